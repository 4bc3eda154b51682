"""SMS text rules (pure): which alphabet a text needs and how it splits into parts (3GPP TS 23.038).

No I/O, no clock, no logging. GSM-7 tables are owned here (python-gsmmodem's text helpers mishandle emoji and
the extension table); `gateway.modem.pdu` packs the septets these tables give into TPDUs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from gateway.errors import InvalidBody, ValidationError
from gateway.values import Encoding

# --- GSM 7-bit default alphabet (TS 23.038 §6.2.1) ------------------------------------------------

# Index = septet value. 0x1B is the escape to the extension table, not a character of its own.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(GSM7_BASIC) == 128
_ESC = 0x1B
_GSM7_EXTENSION = {
    "\x0c": 0x0A,  # form feed (page break)
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_GSM7_ENCODE: dict[str, tuple[int, ...]] = {
    char: (septet,) for septet, char in enumerate(GSM7_BASIC) if septet != _ESC
}
_GSM7_ENCODE.update({char: (_ESC, septet) for char, septet in _GSM7_EXTENSION.items()})
_GSM7_EXTENSION_DECODE = {septet: char for char, septet in _GSM7_EXTENSION.items()}

GSM7_SINGLE_SEPTETS = 160
GSM7_PART_SEPTETS = 153  # 160 minus the 6-octet concat UDH (7 septets with the fill bit)
UCS2_SINGLE_UNITS = 70
UCS2_PART_UNITS = 67  # 140 octets minus the 6-octet concat UDH, in UTF-16 code units
MAX_PARTS = 255  # the 8-bit concatenation IE counts parts in one octet

def gsm7_septets(char: str) -> int:
    """How many septets `char` takes in GSM-7 (2 for the extension table); KeyError when it has none."""
    return len(_GSM7_ENCODE[char])


def gsm7_encode(text: str) -> list[int]:
    septets: list[int] = []
    for char in text:
        try:
            septets.extend(_GSM7_ENCODE[char])
        except KeyError:
            raise ValueError(f"{char!r} is not in the GSM 7-bit alphabet") from None
    return septets


def gsm7_decode(septets: list[int]) -> str:
    chars: list[str] = []
    it = iter(septets)
    for septet in it:
        if septet != _ESC:
            chars.append(GSM7_BASIC[septet])
            continue
        following = next(it, None)
        if following is None:
            break  # a dangling escape at the very end: nothing to show
        # TS 23.038 §6.2.1.1: an unknown extension code shows the basic table's character instead.
        chars.append(_GSM7_EXTENSION_DECODE.get(following, GSM7_BASIC[following] if following != _ESC else " "))
    return "".join(chars)


# --- segmentation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segmentation:
    """How a text goes out: its alphabet and the text of each part, in order."""

    encoding: Encoding
    parts: tuple[str, ...]

    @property
    def part_count(self) -> int:
        return len(self.parts)


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _split(text: str, size_of: Callable[[str], int], single_limit: int, part_limit: int) -> tuple[str, ...]:
    """Greedy split by whole characters, so an escape pair or a surrogate pair never straddles parts."""
    sizes = [size_of(char) for char in text]
    if sum(sizes) <= single_limit:
        return (text,)
    parts: list[str] = []
    start = used = 0
    for i, size in enumerate(sizes):
        if used + size > part_limit:
            parts.append(text[start:i])
            start, used = i, 0
        used += size
    parts.append(text[start:])
    return tuple(parts)


def _fits_gsm7(text: str) -> bool:
    """Whether every character of `text` has a GSM-7 septet code (else it goes as UCS-2)."""
    return all(char in _GSM7_ENCODE for char in text)


def segment(text: str, *, force_ucs2: bool = False) -> Segmentation:
    """Choose GSM-7 when every character has a septet code (and UCS-2 is not forced), else UCS-2 (UTF-16), and
    split into parts.

    GSM-7: 160 septets in one part, else 153 per part; extension characters ('€', '[', ...) take 2.
    UCS-2: 70 UTF-16 code units in one part, else 67 per part; characters beyond the BMP (emoji) take 2.
    The empty text is one empty GSM-7 part (refusing empty bodies is the service's job).
    """
    if not force_ucs2 and _fits_gsm7(text):
        return Segmentation("gsm7", _split(text, gsm7_septets, GSM7_SINGLE_SEPTETS, GSM7_PART_SEPTETS))
    return Segmentation("ucs2", _split(text, _utf16_units, UCS2_SINGLE_UNITS, UCS2_PART_UNITS))


def first_sms(text: str) -> str:
    """The beginning of `text` that one SMS holds, in whole characters: 160 GSM-7 septets, or 70 UTF-16 units
    when the text needs UCS-2 (what a gateway sending at most one message per reply sends)."""
    if _fits_gsm7(text):
        return _split(text, gsm7_septets, GSM7_SINGLE_SEPTETS, GSM7_SINGLE_SEPTETS)[0]
    return _split(text, _utf16_units, UCS2_SINGLE_UNITS, UCS2_SINGLE_UNITS)[0]


# C0 controls (and DEL) a body may not hold: no handset shows them, PostgreSQL cannot store NUL, and GSM-7 would
# turn NUL into "@"; tab, line feed and carriage return are text
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalise_body(body: str) -> str:
    """The text of a message body, NFC-normalised; InvalidBody (422 invalid_body, naming the first one and its
    position) when it holds a control character other than tab, LF and CR; ValidationError when it is empty or
    not valid Unicode."""
    text = unicodedata.normalize("NFC", body)
    if not text.strip():
        raise ValidationError("'body' must not be empty", field="body")
    control = _CONTROLS.search(text)
    if control is not None:
        raise InvalidBody(f"'body' holds the control character U+{ord(control.group()):04X} at position "
                          f"{control.start()}; remove it (tab, line feed and carriage return are allowed)",
                          field="body")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("'body' holds characters that are not valid Unicode (lone surrogates)",
                              field="body") from exc
    return text
