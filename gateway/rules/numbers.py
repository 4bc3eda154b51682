"""Phone number rules: parse with phonenumbers, accept only valid numbers, store E.164."""

from __future__ import annotations

import re

import phonenumbers

from gateway.errors import InvalidNumber


def to_e164(raw: str, default_region: str, *, field: str = "to") -> str:
    """Normalise `raw` (international, or national in `default_region`) to E.164, or raise InvalidNumber."""
    text = raw.strip()
    if not text or len(text) > 32:
        raise InvalidNumber(f"{raw!r} is not a phone number", field=field)
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{raw!r} is not a phone number: {exc._msg}", field=field) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(f"{raw!r} is not a valid phone number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_DIALLABLE = re.compile(r"\+?[0-9]{3,15}")


def takes_replies(sender: str) -> bool:
    """Whether an SMS can be sent back to `sender`: a phone number (international or national digits), not an
    alphanumeric sender ID such as `BANK`, which no network delivers to."""
    return _DIALLABLE.fullmatch(sender.strip()) is not None
