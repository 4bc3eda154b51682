"""A small SMS TPDU codec (3GPP TS 23.040 / 23.038): what a modem needs to read and write.

Decodes SMS-SUBMIT (what a client hands to `AT+CMGS`) and encodes SMS-DELIVER (an incoming SMS) and
SMS-STATUS-REPORT. Hex strings in and out include the leading SMSC field, as `AT+CMGS`/`AT+CMGR` carry it.

UCS-2 user data is read and written as UTF-16-BE, so characters outside the BMP (emoji) survive as
surrogate pairs on the air and as one character in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}
_BASIC_CODE = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != 0x1B}
_EXT_CODE = {ch: code for code, ch in GSM7_EXTENSION.items()}
ESC = 0x1B

GSM7_SINGLE, GSM7_PART = 160, 153   # septets
UCS2_SINGLE, UCS2_PART = 70, 67     # UTF-16 code units


class PduError(ValueError):
    """The bytes are not a TPDU this codec understands."""


# --- GSM 7-bit default alphabet -------------------------------------------------------------

def gsm7_encode(text: str) -> list[int]:
    """Text -> septet values (extension characters become ESC + code). Raises PduError if impossible."""
    out: list[int] = []
    for ch in text:
        if ch in _BASIC_CODE:
            out.append(_BASIC_CODE[ch])
        elif ch in _EXT_CODE:
            out.extend((ESC, _EXT_CODE[ch]))
        else:
            raise PduError(f"{ch!r} is not in the GSM 7-bit alphabet")
    return out


def gsm7_decode(septets: list[int]) -> str:
    out: list[str] = []
    escaped = False
    for s in septets:
        if escaped:
            out.append(GSM7_EXTENSION.get(s, GSM7_BASIC[s]))
            escaped = False
        elif s == ESC:
            escaped = True
        else:
            out.append(GSM7_BASIC[s])
    return "".join(out)


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC_CODE or ch in _EXT_CODE for ch in text)


def pack_septets(septets: list[int], pad_bits: int = 0) -> bytes:
    value = 0
    for i, s in enumerate(septets):
        value |= (s & 0x7F) << (7 * i + pad_bits)
    n_bytes = (7 * len(septets) + pad_bits + 7) // 8
    return value.to_bytes(n_bytes, "little")


def unpack_septets(data: bytes, count: int, pad_bits: int = 0) -> list[int]:
    if (7 * count + pad_bits + 7) // 8 > len(data):
        raise PduError("user data shorter than its length says")
    value = int.from_bytes(data, "little")
    return [(value >> (7 * i + pad_bits)) & 0x7F for i in range(count)]


# --- addresses and timestamps ----------------------------------------------------------------

def _swap_nibbles(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, len(digits), 2))


def _unswap_nibbles(data: bytes) -> str:
    out = []
    for b in data:
        out.append("%X" % (b & 0x0F))
        out.append("%X" % (b >> 4))
    return "".join(out).rstrip("F")


_BCD_OUT = str.maketrans("ABC", "*#a")
_BCD_IN = str.maketrans("*#abc", "ABABC")


def encode_address(number: str) -> bytes:
    """TP-OA/TP-DA: digit count, type of address, semi-octets (alphanumeric senders as packed GSM-7)."""
    if number.startswith("+") and number[1:].isdigit():
        digits, toa = number[1:], 0x91
    elif number.isdigit():
        digits, toa = number, 0x81
    else:
        packed = pack_septets(gsm7_encode(number))
        semi = (len(gsm7_encode(number)) * 7 + 3) // 4
        return bytes((semi, 0xD0)) + packed
    return bytes((len(digits), toa)) + _swap_nibbles(digits.translate(_BCD_IN))


def decode_address(data: bytes, pos: int) -> tuple[str, int]:
    """Returns (address, position after it)."""
    n_digits, toa = data[pos], data[pos + 1]
    n_octets = (n_digits + 1) // 2
    body = data[pos + 2:pos + 2 + n_octets]
    if len(body) != n_octets:
        raise PduError("address runs past the end of the PDU")
    if toa & 0x70 == 0x50:
        text = gsm7_decode(unpack_septets(body, n_digits * 4 // 7))
        return text, pos + 2 + n_octets
    digits = _unswap_nibbles(body)[:n_digits].translate(_BCD_OUT)
    return ("+" + digits if toa & 0x70 == 0x10 else digits), pos + 2 + n_octets


def encode_smsc(number: str | None) -> bytes:
    if not number:
        return b"\x00"
    digits = number.lstrip("+")
    toa = 0x91 if number.startswith("+") else 0x81
    body = bytes((toa,)) + _swap_nibbles(digits)
    return bytes((len(body),)) + body


def encode_timestamp(when: datetime) -> bytes:
    """SCTS: semi-octet date and time plus the zone in quarter hours (sign in bit 3 of the last octet)."""
    offset = when.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    digits = when.strftime("%y%m%d%H%M%S") + "%02d" % quarters
    ts = bytearray(_swap_nibbles(digits))
    if offset < timedelta(0):
        ts[-1] |= 0x08
    return bytes(ts)


def decode_timestamp(data: bytes) -> datetime:
    digits = "".join("%d%d" % (b & 0x0F, b >> 4) for b in data[:6])
    digits += "%d%d" % (data[6] & 0x07, data[6] >> 4)
    tz = int(digits[12:14]) * 15 * (-1 if data[6] & 0x08 else 1)
    return datetime.strptime(digits[:12], "%y%m%d%H%M%S").replace(
        tzinfo=timezone(timedelta(minutes=tz)))


# --- user data -----------------------------------------------------------------------------

def alphabet_of(dcs: int) -> str:
    """'gsm7', '8bit' or 'ucs2' from a TP-DCS octet (23.038 section 4)."""
    group = dcs >> 4
    if group <= 0x07:                      # general data coding (also the auto-deletion group)
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if group in (0x0C, 0x0D):              # message waiting, GSM-7
        return "gsm7"
    if group == 0x0E:                      # message waiting, UCS-2
        return "ucs2"
    if group == 0x0F:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


def parse_udh(udh: bytes) -> tuple[int, int, int] | None:
    """Concatenation info (ref, total, seq) from a UDH body (8-bit IE 0x00 or 16-bit IE 0x08)."""
    pos = 0
    while pos + 1 < len(udh):
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2:pos + 2 + length]
        if len(value) != length:
            raise PduError("UDH information element runs past the header")
        if iei == 0x00 and length == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4:
            return (value[0] << 8) | value[1], value[2], value[3]
        pos += 2 + length
    return None


def decode_user_data(ud: bytes, udl: int, alphabet: str, has_udh: bool) -> tuple[str, bytes]:
    """Returns (text, udh body without its length octet)."""
    udh = b""
    if has_udh:
        if not ud:
            raise PduError("UDHI set but no user data")
        udh = ud[1:1 + ud[0]]
        if len(udh) != ud[0]:
            raise PduError("UDH longer than the user data")
    if alphabet == "gsm7":
        header_septets = ((len(udh) + 1) * 8 + 6) // 7 if has_udh else 0
        pad = header_septets * 7 - (len(udh) + 1) * 8 if has_udh else 0
        body = ud[len(udh) + 1:] if has_udh else ud
        count = udl - header_septets
        if count < 0:
            raise PduError("UDL smaller than the header")
        return gsm7_decode(unpack_septets(body, count, pad)), udh
    if len(ud) < udl:
        raise PduError("user data shorter than its length says")
    body = ud[len(udh) + 1 if has_udh else 0:udl]
    if alphabet == "ucs2":
        if len(body) % 2:
            raise PduError("odd number of UCS-2 octets")
        return body.decode("utf-16-be", errors="surrogatepass"), udh
    return body.decode("latin-1"), udh


def encode_user_data(text: str, alphabet: str, udh: bytes = b"") -> tuple[int, bytes]:
    """Returns (TP-UDL, TP-UD) for `text`, with `udh` (body, without length octet) in front when given."""
    header = bytes((len(udh),)) + udh if udh else b""
    if alphabet == "gsm7":
        septets = gsm7_encode(text)
        header_septets = (len(header) * 8 + 6) // 7
        pad = header_septets * 7 - len(header) * 8
        return header_septets + len(septets), header + pack_septets(septets, pad)
    body = text.encode("utf-16-be", errors="surrogatepass") if alphabet == "ucs2" else text.encode("latin-1")
    return len(header) + len(body), header + body


def split_text(text: str) -> tuple[str, list[str]]:
    """(alphabet, parts) as a phone would send `text`: GSM-7 when possible (160, or 153 per part), else
    UCS-2 (70, or 67 UTF-16 units per part); never splits an escape pair or a surrogate pair."""
    cost: Callable[[str], int]
    if is_gsm7(text):
        alphabet, single, per_part = "gsm7", GSM7_SINGLE, GSM7_PART
        cost = lambda ch: 1 if ch in _BASIC_CODE else 2  # noqa: E731
    else:
        alphabet, single, per_part = "ucs2", UCS2_SINGLE, UCS2_PART
        cost = lambda ch: 2 if ord(ch) > 0xFFFF else 1  # noqa: E731
    if sum(cost(ch) for ch in text) <= single:
        return alphabet, [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        if used + cost(ch) > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += cost(ch)
    parts.append("".join(current))
    return alphabet, parts


def concat_udh(ref: int, total: int, seq: int) -> bytes:
    if ref > 0xFF:
        return bytes((0x08, 4, ref >> 8, ref & 0xFF, total, seq))
    return bytes((0x00, 3, ref, total, seq))


# --- SMS-SUBMIT ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Submit:
    """A decoded SMS-SUBMIT."""

    number: str
    text: str
    alphabet: str                       # 'gsm7' | '8bit' | 'ucs2'
    message_reference: int
    status_report_requested: bool
    concat: tuple[int, int, int] | None
    validity: object                    # None, timedelta (relative), datetime (absolute) or raw bytes
    tpdu_length: int


def _relative_validity(vp: int) -> timedelta:
    if vp <= 143:
        return timedelta(minutes=5 * (vp + 1))
    if vp <= 167:
        return timedelta(hours=12, minutes=30 * (vp - 143))
    if vp <= 196:
        return timedelta(days=vp - 166)
    return timedelta(weeks=vp - 192)


def decode_submit(pdu_hex: str, *, has_smsc: bool = True) -> Submit:
    """Decode an SMS-SUBMIT given as hex. Raises PduError when it is not a valid one."""
    try:
        data = bytes.fromhex(pdu_hex.strip())
    except ValueError as exc:
        raise PduError("PDU is not hex") from exc
    try:
        return _decode_submit(data, has_smsc)
    except IndexError as exc:
        raise PduError("PDU ends too early") from exc


def _decode_submit(data: bytes, has_smsc: bool) -> Submit:
    pos = 1 + data[0] if has_smsc else 0
    tpdu_start = pos
    first = data[pos]
    if first & 0x03 != 0x01:
        raise PduError("not an SMS-SUBMIT (TP-MTI)")
    vpf = (first >> 3) & 0x03
    mr = data[pos + 1]
    number, pos = decode_address(data, pos + 2)
    dcs = data[pos + 1]  # data[pos] is TP-PID, not used
    pos += 2
    validity: object = None
    if vpf == 2:
        validity, pos = _relative_validity(data[pos]), pos + 1
    elif vpf == 3:
        raw = data[pos:pos + 7]
        try:
            validity = decode_timestamp(raw)
        except ValueError:
            validity = raw
        pos += 7
    elif vpf == 1:                      # enhanced format: keep the raw octets
        validity, pos = data[pos:pos + 7], pos + 7
    udl = data[pos]
    ud = data[pos + 1:]
    alphabet = alphabet_of(dcs)
    text, udh = decode_user_data(ud, udl, alphabet, bool(first & 0x40))
    expected = (7 * udl + 7) // 8 if alphabet == "gsm7" else udl
    if len(ud) != expected:
        raise PduError(f"user data is {len(ud)} octets, UDL says {expected}")
    return Submit(
        number=number, text=text, alphabet=alphabet, message_reference=mr,
        status_report_requested=bool(first & 0x20), concat=parse_udh(udh) if udh else None,
        validity=validity, tpdu_length=len(data) - tpdu_start,
    )


def encode_submit(number: str, text: str, *, alphabet: str | None = None, reference: int = 0,
                  status_report: bool = False, concat: tuple[int, int, int] | None = None,
                  smsc: str | None = None) -> tuple[str, int]:
    """Build an SMS-SUBMIT (used by tests and the text-mode path). Returns (hex, tpdu_length)."""
    alphabet = alphabet or ("gsm7" if is_gsm7(text) else "ucs2")
    udh = concat_udh(*concat) if concat else b""
    first = 0x01 | 0x10 | (0x20 if status_report else 0) | (0x40 if udh else 0)
    dcs = {"gsm7": 0x00, "8bit": 0x04, "ucs2": 0x08}[alphabet]
    udl, ud = encode_user_data(text, alphabet, udh)
    tpdu = bytes((first, reference)) + encode_address(number) + bytes((0x00, dcs, 0xA7, udl)) + ud
    return (encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu)


# --- SMS-DELIVER and SMS-STATUS-REPORT -------------------------------------------------------

def encode_deliver(sender: str, text: str, *, alphabet: str, when: datetime,
                   concat: tuple[int, int, int] | None = None, smsc: str | None = None) -> tuple[str, int]:
    """Build an SMS-DELIVER. Returns (hex with SMSC field, tpdu_length)."""
    udh = concat_udh(*concat) if concat else b""
    first = 0x04 | (0x40 if udh else 0)          # TP-MMS: no more messages waiting
    dcs = {"gsm7": 0x00, "8bit": 0x04, "ucs2": 0x08}[alphabet]
    udl, ud = encode_user_data(text, alphabet, udh)
    tpdu = (bytes((first,)) + encode_address(sender) + bytes((0x00, dcs)) + encode_timestamp(when)
            + bytes((udl,)) + ud)
    return (encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu)


def deliver_pdus(sender: str, text: str, *, when: datetime, smsc: str | None, concat_ref: int) -> list[str]:
    """The SMS-DELIVER PDUs (hex) of `text` from `sender`, one per part, as a phone would split it."""
    alphabet, parts = split_text(text)
    return [encode_deliver(sender, part, alphabet=alphabet, when=when, smsc=smsc,
                           concat=(concat_ref, len(parts), k + 1) if len(parts) > 1 else None)[0]
            for k, part in enumerate(parts)]


def encode_status_report(reference: int, recipient: str, *, status: int, submitted: datetime,
                         discharged: datetime, smsc: str | None = None) -> tuple[str, int]:
    """Build an SMS-STATUS-REPORT (TP-ST 0 = delivered). Returns (hex with SMSC field, tpdu_length)."""
    tpdu = (bytes((0x06, reference & 0xFF)) + encode_address(recipient) + encode_timestamp(submitted)
            + encode_timestamp(discharged) + bytes((status & 0xFF,)))
    return (encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu)


@dataclass(frozen=True)
class Deliver:
    """A decoded SMS-DELIVER (for text-mode listings and tests)."""

    sender: str
    text: str
    alphabet: str
    timestamp: datetime
    concat: tuple[int, int, int] | None


def decode_deliver(pdu_hex: str) -> Deliver:
    """Decode an SMS-DELIVER given as hex with its SMSC field."""
    data = bytes.fromhex(pdu_hex)
    pos = 1 + data[0]
    first = data[pos]
    sender, pos = decode_address(data, pos + 1)
    alphabet = alphabet_of(data[pos + 1])
    timestamp = decode_timestamp(data[pos + 2:pos + 9])
    pos += 9
    text, udh = decode_user_data(data[pos + 1:], data[pos], alphabet, bool(first & 0x40))
    return Deliver(sender, text, alphabet, timestamp, parse_udh(udh) if udh else None)


@dataclass(frozen=True)
class StatusReport:
    reference: int
    recipient: str
    submitted: datetime
    discharged: datetime
    status: int


def decode_status_report(pdu_hex: str) -> StatusReport:
    data = bytes.fromhex(pdu_hex)
    pos = 1 + data[0]
    mr = data[pos + 1]
    recipient, pos = decode_address(data, pos + 2)
    return StatusReport(mr, recipient, decode_timestamp(data[pos:pos + 7]),
                        decode_timestamp(data[pos + 7:pos + 14]), data[pos + 14])


def tpdu_length(pdu_hex: str) -> int:
    """Octets after the SMSC field: the <length> of +CMGS/+CMGR/+CMGL/+CMT/+CDS."""
    return len(pdu_hex) // 2 - 1 - int(pdu_hex[:2], 16)
