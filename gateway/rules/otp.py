"""One-time codes (pure): generation, keyed HMAC-SHA256 hashing, constant-time checks, masking."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from gateway.errors import ValidationError

ALPHABETS = {"digits": "0123456789", "alnum": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"}  # no 0/O, 1/I look-alikes
DEFAULT_TEMPLATE = "Your code is {code}"
MASK = "*"
MIN_LENGTH, MAX_LENGTH = 4, 10
MIN_TTL_S, MAX_TTL_S = 30, 86400


def check_request(length: int, alphabet: str, ttl_s: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValidationError(f"'length' must be {MIN_LENGTH} to {MAX_LENGTH}", field="length")
    if alphabet not in ALPHABETS:
        raise ValidationError(f"'alphabet' must be one of {', '.join(ALPHABETS)}", field="alphabet")
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
        raise ValidationError(f"'ttl' must be {MIN_TTL_S} to {MAX_TTL_S} seconds", field="ttl")


def new_code(length: int, alphabet: str) -> str:
    chars = ALPHABETS[alphabet]
    return "".join(secrets.choice(chars) for _ in range(length))


def new_salt() -> str:
    return secrets.token_hex(16)


def code_hash(code: str, salt: str, pepper: bytes) -> str:
    """HMAC-SHA256 of the OTP's own salt and the code under `pepper`, a key kept outside the database (the box
    key's): codes are short, so a hash anyone holding the database could recompute would give a live code
    away in a million guesses; without the pepper there is nothing to guess against."""
    return hmac.new(pepper, f"{salt}:{code.strip().upper()}".encode(), hashlib.sha256).hexdigest()


def matches(code: str, salt: str, expected_hash: str, pepper: bytes) -> bool:
    return hmac.compare_digest(code_hash(code, salt, pepper), expected_hash)


def masked(code: str) -> str:
    return MASK * len(code)
