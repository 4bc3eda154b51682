"""The text of a canary probe (gateway/core/canary.py): made by `probe_text`, recognised by `probe_token`."""

from __future__ import annotations

import re

_PROBE = re.compile(r"\bsmsgw probe ([0-9a-f]{8})\b")  # anywhere: an echo service may add words around it


def probe_text(token: str) -> str:
    return f"smsgw probe {token}"


def probe_token(text: str) -> str | None:
    """The token of a probe's text (or of an echo of it); None for any other SMS. A token that matches no probe
    sent leaves the SMS to the inbox (`Probes.arrived`)."""
    match = _PROBE.search(text)
    return match.group(1) if match else None
