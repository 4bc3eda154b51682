"""API key tokens: 256 random bits with a recognisable prefix; only a SHA-256 of the token is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import timedelta
from typing import Generic, TypeVar

Key = TypeVar("Key")

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


class RecentKeys(Generic[Key]):
    """API keys read in the last `ttl_s`, by token hash, so that a busy client's requests do not each read
    theirs. A key revoked by another process (the CLI, another box) stops working within `ttl_s`; one revoked
    through this process at once (`forget_all`). Unknown tokens are never kept. Safe across threads: each
    method is one dict operation."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._keys: dict[str, tuple[float, Key]] = {}

    def get(self, key_hash: str) -> Key | None:
        read_at, key = self._keys.get(key_hash, (None, None))
        return key if read_at is not None and time.monotonic() - read_at < self._ttl_s else None

    def put(self, key_hash: str, key: Key) -> None:
        self._keys[key_hash] = (time.monotonic(), key)

    def forget_all(self) -> None:
        self._keys.clear()
