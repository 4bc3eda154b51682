"""API key tokens: 256 random bits with a recognisable prefix; only a SHA-256 of the token is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

TOKEN_PREFIX = "smsgw_"
SCOPES = ("send", "read", "admin")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(token: str) -> str:
    """The part of a token that may be shown to tell keys apart."""
    return token[: len(TOKEN_PREFIX) + 6]


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """"30d", "24h", "90m", "3600s", "2w" -> timedelta; ValueError otherwise."""
    match = _DURATION.match(text or "")
    if match is None:
        raise ValueError(f"not a duration (like 30d, 24h, 90m): {text!r}")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})
