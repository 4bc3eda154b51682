"""The text of a canary probe (gateway/core/canary.py): made by `probe_text`, recognised by `probe_token`."""

from __future__ import annotations

import re

_PROBE = re.compile(r"^smsgw probe ([0-9a-f]{8})$")


def probe_text(token: str) -> str:
    return f"smsgw probe {token}"


def probe_token(text: str) -> str | None:
    """The token of a probe's text; None for any other SMS."""
    match = _PROBE.match(text.strip())
    return match.group(1) if match else None
