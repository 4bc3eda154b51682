"""The `[kannel]` config section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KannelSettings:
    """Kannel's sms-service: `get_url` (with Kannel's escapes, %p sender, %a text, ...) is fetched with GET for
    each received SMS; a non-empty text/plain answer goes back to the sender as a reply."""

    get_url: str = ""
