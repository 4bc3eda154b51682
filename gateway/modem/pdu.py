"""The PDU codec (pure): build SMS-SUBMIT TPDUs and decode what a modem stores (SMS-DELIVER,
SMS-STATUS-REPORT). Follows 3GPP TS 23.040 (TPDU layout, user data header, time stamps) and TS 23.038 (septet
packing, data coding scheme).

Nothing here uses python-gsmmodem's codecs: the septet packing, address and time stamp codecs below are small
enough to own outright, which also keeps this module importable without the library.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from gateway.rules.text import MAX_PARTS, Segmentation, gsm7_decode, gsm7_encode
from gateway.values import Concat, ReceivedSms, StatusReport, SubmitPdu

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # half a UTF-16 pair, cut at a part boundary

# --- septet packing (TS 23.038 §6.1.2.1.1) -------------------------------------------------------------


def _pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB first, after `fill_bits` zero bits (TS 23.038 §6.1.2.1.1)."""
    out = bytearray()
    acc = 0
    nbits = fill_bits
    for septet in septets:
        acc |= (septet & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def _unpack_septets(data: bytes, count: int) -> list[int]:
    """The first `count` septets packed LSB first in `data`."""
    if count * 7 > len(data) * 8:
        raise ValueError(f"user data holds {len(data) * 8 // 7} septets, the header announces {count}")
    value = int.from_bytes(data, "little")
    return [(value >> (7 * i)) & 0x7F for i in range(count)]


# --- addresses, time stamps, validity --------------------------------------------------------------

_NUMBER = re.compile(r"(\+?)(\d{1,20})")


def _encode_address(number: str) -> bytes:
    """TP-DA: '+digits' → international (TOA 0x91), bare digits → national (0x81)."""
    match = _NUMBER.fullmatch(number)
    if not match:
        raise ValueError(f"{number!r} is not a phone number ('+' and digits, or digits)")
    plus, digits = match.groups()
    toa = 0x91 if plus else 0x81
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))
    return bytes([len(digits), toa]) + swapped


def _decode_semi_octets(data: bytes) -> str:
    digits: list[str] = []
    for octet in data:
        for nibble in (octet & 0x0F, octet >> 4):
            if nibble == 0x0F:
                return "".join(digits)
            digits.append("0123456789*#abc"[nibble])
    return "".join(digits)


class _Reader:
    """A cursor over TPDU octets that names what ran out when a PDU is truncated."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"PDU truncated in {what} (octet {self.pos}, need {n}, have {len(self.data) - self.pos})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def octet(self, what: str) -> int:
        return self.take(1, what)[0]

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def _read_address(reader: _Reader, what: str) -> str:
    length = reader.octet(what)  # useful semi-octets
    toa = reader.octet(what)  # present even when the address is empty
    raw = reader.take((length + 1) // 2, what)
    ton = (toa >> 4) & 0x07
    if ton == 0b101:  # alphanumeric, GSM-7 packed (TS 23.040 §9.1.2.5)
        return gsm7_decode(_unpack_septets(raw, length * 4 // 7))
    digits = _decode_semi_octets(raw)
    return "+" + digits if ton == 0b001 and digits else digits


def _bcd(octet: int) -> int:
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise ValueError("not BCD")
    return low * 10 + high


def _read_timestamp(reader: _Reader, what: str) -> datetime | None:
    """TP-SCTS/TP-DT (TS 23.040 §9.2.3.11) as an aware UTC datetime; None when the fields are not a date."""
    raw = reader.take(7, what)
    try:
        year, month, day, hour, minute, second = (_bcd(octet) for octet in raw[:6])
        # The zone is quarter hours, sign in bit 3. Some networks put a non-BCD units digit here (a captured
        # report has 0xC2 for +08:00); reading it as tens*10 + units reproduces what they meant.
        quarters = (raw[6] & 0x07) * 10 + (raw[6] >> 4)
        offset = timedelta(minutes=15 * quarters)
        zone = timezone(-offset if raw[6] & 0x08 else offset)
        local = datetime(2000 + year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None
    return local.astimezone(timezone.utc)


def _encode_relative_validity(validity: timedelta) -> int:
    """TP-VP relative format (TS 23.040 §9.2.3.12.1), rounded down to a representable period, 5 min at least."""
    if validity <= timedelta(0):
        raise ValueError("validity must be positive")
    minutes = validity.total_seconds() // 60
    if minutes <= 12 * 60:
        return max(int(minutes // 5) - 1, 0)
    if minutes <= 24 * 60:
        return 143 + int((minutes - 12 * 60) // 30)
    days = int(minutes // (24 * 60))
    if days <= 30:
        return 166 + days
    return min(192 + days // 7, 255)


# --- SMS-SUBMIT --------------------------------------------------------------------------------------


def build_submit_pdus(
    number: str,
    segmentation: Segmentation,
    *,
    concat_ref: int,
    request_status_report: bool,
    validity: timedelta | None = None,
) -> list[SubmitPdu]:
    """One SMS-SUBMIT per part, each prefixed with a 00 SMSC octet (use the SIM's SMS centre).

    TP-MR is 0: the modem assigns the reference and reports it in `+CMGS: <mr>`. A multi-part message
    carries the 8-bit concatenation IE `00 03 <concat_ref> <total> <seq>`; GSM-7 parts add one fill bit so
    the text starts on a septet boundary.
    """
    total = segmentation.part_count
    if total > MAX_PARTS:
        raise ValueError(f"{total} parts; at most {MAX_PARTS} fit a concatenation header")
    if total > 1 and not 0 <= concat_ref <= 0xFF:
        raise ValueError(f"concat_ref {concat_ref} does not fit one octet")
    address = _encode_address(number)
    first_octet = 0x01  # TP-MTI SMS-SUBMIT, TP-RD 0
    if validity is not None:
        first_octet |= 0x10  # TP-VPF relative
    if request_status_report:
        first_octet |= 0x20  # TP-SRR
    if total > 1:
        first_octet |= 0x40  # TP-UDHI
    dcs = 0x00 if segmentation.encoding == "gsm7" else 0x08
    vp = bytes([_encode_relative_validity(validity)]) if validity is not None else b""

    pdus = []
    for seq, text in enumerate(segmentation.parts, start=1):
        udh = bytes([0x05, 0x00, 0x03, concat_ref, total, seq]) if total > 1 else b""
        if segmentation.encoding == "gsm7":
            septets = gsm7_encode(text)
            fill_bits = (7 - (len(udh) * 8) % 7) % 7
            header_septets = (len(udh) * 8 + fill_bits) // 7
            user_data = udh + _pack_septets(septets, fill_bits)
            udl = header_septets + len(septets)
        else:
            user_data = udh + text.encode("utf-16-be")
            udl = len(user_data)
        tpdu = bytes([first_octet, 0x00]) + address + bytes([0x00, dcs]) + vp + bytes([udl]) + user_data
        pdus.append(SubmitPdu(hex=("00" + tpdu.hex()).upper(), tpdu_length=len(tpdu)))
    return pdus


# --- decoding what the modem stores ----------------------------------------------------------------


def _alphabet(dcs: int) -> str:
    """'gsm7', '8bit' or 'ucs2' from TP-DCS (TS 23.038 §4); reserved values read as GSM-7."""
    group = dcs >> 4
    if group <= 0b0111:  # general data coding (0x) or automatic deletion (01xx)
        if dcs & 0x20:
            raise ValueError(f"compressed user data (DCS {dcs:#04x}) is not supported")
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if group in (0b1100, 0b1101):  # message waiting, GSM-7
        return "gsm7"
    if group == 0b1110:  # message waiting, UCS-2
        return "ucs2"
    if group == 0b1111:  # data coding / message class
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


def _concat_from_udh(udh: bytes) -> Concat | None:
    concat = None
    pos = 0
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        if len(data) != length:
            raise ValueError("user data header truncated")
        if iei == 0x00 and length == 3:
            concat = Concat(reference=data[0], total=data[1], sequence=data[2])
        elif iei == 0x08 and length == 4:
            concat = Concat(reference=data[0] << 8 | data[1], total=data[2], sequence=data[3])
        pos += 2 + length
    if concat and not 1 <= concat.sequence <= concat.total:
        return None  # TS 23.040 §9.2.3.24.1: ignore an IE with total or sequence 0 or out of range
    return concat


def _decode_user_data(reader: _Reader, alphabet: str, udl: int, has_udh: bool) -> tuple[str, Concat | None]:
    if alphabet == "gsm7":
        data = reader.take((udl * 7 + 7) // 8, "user data")
        udh_octets = data[0] + 1 if has_udh and data else 0
        if udh_octets > len(data):
            raise ValueError("user data header longer than the user data")
        header_septets = (udh_octets * 8 + 6) // 7
        septets = _unpack_septets(data, udl)[header_septets:]
        concat = _concat_from_udh(data[1:udh_octets]) if has_udh else None
        return gsm7_decode(septets), concat
    data = reader.take(udl, "user data")
    udh_octets = data[0] + 1 if has_udh and data else 0
    if udh_octets > len(data):
        raise ValueError("user data header longer than the user data")
    concat = _concat_from_udh(data[1:udh_octets]) if has_udh else None
    payload = data[udh_octets:]
    if alphabet == "8bit":
        return binary_text(payload, _destination_port(data[1:udh_octets]) if has_udh else None), concat
    if len(payload) % 2:
        payload = payload[:-1]  # half a code unit: drop it rather than the message
    text = payload.decode("utf-16-be", errors="surrogatepass")
    # Pairs inside the part are already one character; a half pair cut at a part boundary cannot be stored
    # as UTF-8, so it becomes U+FFFD; a NUL (which PostgreSQL cannot store in text) becomes its picture, U+2400.
    return _LONE_SURROGATE.sub("\ufffd", text).replace("\x00", "\u2400"), concat


WAP_PUSH_PORTS = (2948, 2949)  # WAP push over WDP (TS 23.040 §9.2.3.24.4; WAP-259), e.g. MMS notifications
_PLAIN_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


def binary_text(payload: bytes, port: int | None) -> str:
    """The text stored for 8-bit user data: plain ASCII as it is (some senders mark text 8-bit); anything else
    as a label and every byte in hex (lossless, and storable anywhere), e.g. `[WAP push, 3 bytes] 0a00ff`."""
    if port is None and payload and set(payload) <= _PLAIN_BYTES:
        return payload.decode("ascii")
    kind = "WAP push" if port in WAP_PUSH_PORTS else "binary data" if port is None else f"binary data, port {port}"
    return f"[{kind}, {len(payload)} bytes] {payload.hex()}"


def _destination_port(udh: bytes) -> int | None:
    """The destination port of an application port addressing IE (8- or 16-bit), if the UDH has one."""
    pos = 0
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        if iei == 0x05 and len(data) == 4:
            return data[0] << 8 | data[1]
        if iei == 0x04 and len(data) == 2:
            return data[0]
        pos += 2 + length
    return None


def decode_pdu(
    pdu_hex: str, *, memory: str | None = None, index: int | None = None
) -> ReceivedSms | StatusReport:
    """Decode an SMS-DELIVER or SMS-STATUS-REPORT as a modem gives it (with its SMSC prefix).

    Raises ValueError for anything else: bad hex, truncation, SMS-SUBMIT, unsupported coding.
    """
    cleaned = "".join(pdu_hex.split())
    try:
        data = bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"PDU is not hex: {pdu_hex[:40]!r}") from None
    reader = _Reader(data)
    smsc_length = reader.octet("SMSC length")
    reader.take(smsc_length, "SMSC address")
    first_octet = reader.octet("first octet")
    mti = first_octet & 0x03

    if mti == 0x00:  # SMS-DELIVER
        sender = _read_address(reader, "originating address")
        reader.octet("TP-PID")
        alphabet = _alphabet(reader.octet("TP-DCS"))
        sent_at = _read_timestamp(reader, "TP-SCTS")
        udl = reader.octet("TP-UDL")
        text, concat = _decode_user_data(reader, alphabet, udl, bool(first_octet & 0x40))
        return ReceivedSms(
            memory=memory,  # type: ignore[arg-type]  # None only when decoded outside storage (tests, +CMT)
            index=index,  # type: ignore[arg-type]
            sender=sender,
            text=text,
            sent_at=sent_at,
            concat=concat,
            pdu_hex=cleaned.upper(),
        )
    if mti == 0x02:  # SMS-STATUS-REPORT (TS 23.040 §9.2.2.3); the optional PI/PID/DCS/UD are not needed
        reference = reader.octet("TP-MR")
        recipient = _read_address(reader, "recipient address")
        sent_at = _read_timestamp(reader, "TP-SCTS")
        discharged_at = _read_timestamp(reader, "TP-DT")
        status = reader.octet("TP-ST")
        return StatusReport(
            memory=memory,
            index=index,
            reference=reference,
            recipient=recipient,
            status=status,
            sent_at=sent_at,
            discharged_at=discharged_at,
            pdu_hex=cleaned.upper(),
        )
    kind = {0x01: "SMS-SUBMIT", 0x03: "reserved"}[mti]
    raise ValueError(f"not a received message: TP-MTI {mti} ({kind})")
