"""Masking what must not be shown or logged in full: phone numbers and PDUs (which carry message bodies).

Pure functions: the status page masks numbers for display, the logging filter masks free text.
"""

from __future__ import annotations

import re

import phonenumbers

# A run of 7 to 15 digits, optionally after '+' and with single spaces between groups: phone numbers (E.164
# or national), IMEIs, IMSIs. Shorter runs (ports, counts, CMS codes) are left alone, and so are dates,
# times and decimals (digits next to '-', ':' or '.').
_NUMBER = re.compile(r"(?<![\w.:+-])\+?\d(?: ?\d){6,14}(?!\w|[.:-]\d)")
# A hex run long enough to be a PDU (SMSC + first octet + address + ... + user data): 20 hex digits or more.
_PDU = re.compile(r"(?<!\w)[0-9A-Fa-f]{20,}(?!\w)")
KEEP_LAST = 3


def mask_number(number: str) -> str:
    """`+447911123456` -> `+44 79** ***456`: the country code, the first two and the last three digits."""
    digits = re.sub(r"\D", "", number)
    if len(digits) < 6:
        return "*" * len(digits)
    country, national = "", digits
    if number.startswith("+"):
        try:
            parsed = phonenumbers.parse(number, None)
            country, national = f"+{parsed.country_code}", digits[len(str(parsed.country_code)):]
        except phonenumbers.NumberParseException:
            country, national = "+" + digits[:2], digits[2:]
    shown = national[:2] + "*" * max(0, len(national) - 2 - KEEP_LAST) + national[-KEEP_LAST:]
    grouped = f"{shown[:4]} {shown[4:]}" if len(shown) > 4 else shown
    return f"{country} {grouped}".strip()


def _mask_run(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = re.sub(r"\D", "", run)
    return ("+" if run.startswith("+") else "") + "*" * (len(digits) - KEEP_LAST) + digits[-KEEP_LAST:]


def mask_text(text: str, *, mask_numbers: bool = True) -> str:
    """Hide PDUs (always: they carry bodies) and, unless told not to, digit runs that look like phone numbers."""
    text = _PDU.sub(lambda m: f"<pdu {len(m.group(0)) // 2} octets>", text)
    if mask_numbers:
        text = _NUMBER.sub(_mask_run, text)
    return text
