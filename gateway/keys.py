"""API key tokens: 256 random bits with a recognisable prefix; only a SHA-256 of the token is stored."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "smsgw_"
SCOPES = ("send", "read", "admin")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(token: str) -> str:
    """The part of a token that may be shown to tell keys apart."""
    return token[: len(TOKEN_PREFIX) + 6]
