"""Pure parsers for modem replies and the +CMS/+CME error classification. No I/O.

Each parser takes the response lines of one command (URCs already stripped by the driver) or a single
line, and raises ValueError when the expected line is missing or malformed.
"""

from __future__ import annotations

import re
from typing import Iterable, Literal

from gateway.errors import ModemFaultSendError, NoCreditSendError, PermanentSendError, SendError, TemporarySendError
from gateway.modem.driver import Registration
from gateway.rules.text import GSM7_BASIC

ErrorKind = Literal["CMS", "CME"]

_ERROR_LINE = re.compile(r"^\+(CMS|CME) ERROR:\s*(\d+)\s*$")


def find_line(lines: Iterable[str], prefix: str) -> str:
    """The first line starting with `prefix` (e.g. '+CSQ:'), else ValueError."""
    for line in lines:
        if line.startswith(prefix):
            return line
    raise ValueError(f"no {prefix!r} line in the reply")


def _fields(line: str) -> list[str]:
    """The comma-separated fields after 'prefix:', quotes removed (no field here contains a comma)."""
    _, _, rest = line.partition(":")
    return [field.strip().strip('"') for field in rest.split(",")]


# --- signal, registration, operator ---------------------------------------------------------------------


def parse_csq(line: str) -> tuple[int | None, int | None]:
    """'+CSQ: <rssi>,<ber>' → (rssi 0..31, dBm) per TS 27.007 §8.5; 99 (not known) → (None, None)."""
    match = re.match(r"^\+CSQ:\s*(\d+)\s*,", line)
    if not match:
        raise ValueError(f"not a +CSQ reply: {line!r}")
    rssi = int(match.group(1))
    if rssi == 99 or rssi > 31:
        return None, None
    return rssi, -113 + 2 * rssi


# TS 27.007 §7.2 <stat>; 6..10 are the later "SMS only" / "CSFB not preferred" / emergency-only values.
_REGISTRATION: dict[int, Registration] = {
    0: "not_registered",
    1: "home",
    2: "searching",
    3: "denied",
    4: "unknown",
    5: "roaming",
    6: "home",  # registered for "SMS only", home network: SMS is exactly what we need
    7: "roaming",  # "SMS only", roaming
    8: "not_registered",  # attached for emergency bearer services only
    9: "home",  # "CSFB not preferred", home
    10: "roaming",  # "CSFB not preferred", roaming
}


def parse_registration(line: str) -> Registration:
    """+CREG/+CGREG/+CEREG → Registration.

    The read reply is '+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]'; the unsolicited form is '+CREG: <stat>[,…]'
    where the second field is quoted. A first field alone, or followed by a quoted one, is therefore <stat>.
    """
    match = re.match(r"^\+C(?:G|E)?REG:\s*(.*)$", line)
    if not match:
        raise ValueError(f"not a registration reply: {line!r}")
    raw = [field.strip() for field in match.group(1).split(",")]
    if len(raw) >= 2 and raw[1].isdigit():
        stat_field = raw[1]
    else:
        stat_field = raw[0]
    if not stat_field.isdigit():
        raise ValueError(f"no registration state in {line!r}")
    return _REGISTRATION.get(int(stat_field), "unknown")


def parse_access_technology(line: str) -> int | None:
    """'+COPS: <mode>,<format>,"<oper>",<AcT>' → <AcT> (0 GSM, 2 UTRAN, 7 E-UTRAN, …); None when not given."""
    match = re.match(r'^\+COPS:\s*\d+\s*,\s*\d+\s*,\s*"[^"]*"\s*,\s*(\d+)', line)
    return int(match.group(1)) if match else None


def parse_cireg(line: str) -> bool:
    """'+CIREG: <n>,<reg_info>[,…]' (TS 27.007 §8.71) → registered for IMS (SMS over IMS possible)."""
    match = re.match(r"^\+CIREG:\s*\d+\s*,\s*(\d)", line)
    if not match:
        raise ValueError(f"not a +CIREG reply: {line!r}")
    return match.group(1) == "1"


def parse_operator(line: str) -> str | None:
    """'+COPS: <mode>[,<format>,"<oper>"[,<AcT>]]' → the operator name (or numeric id), None when not registered."""
    if not line.startswith("+COPS:"):
        raise ValueError(f"not a +COPS reply: {line!r}")
    match = re.search(r'"([^"]*)"', line)
    if match:
        return match.group(1).strip() or None
    fields = _fields(line)
    return fields[2] if len(fields) >= 3 and fields[2] else None


def parse_cpms_memories(line: str) -> tuple[str, ...]:
    """'+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")' → the memories of the first (read/delete) list.

    Also accepts the unbracketed one-list form some modems give ('+CPMS: "SM","ME"').
    """
    if not line.startswith("+CPMS:"):
        raise ValueError(f"not a +CPMS reply: {line!r}")
    body = line.partition(":")[2]
    group = re.search(r"\(([^()]*)\)", body)
    memories = re.findall(r'"([A-Z]{2})"', group.group(1) if group else body)
    return tuple(dict.fromkeys(memories))


def parse_cmgs(lines: Iterable[str]) -> int:
    """'+CMGS: <mr>[,<scts>]' → TP-MR."""
    line = find_line(lines, "+CMGS:")
    match = re.match(r"^\+CMGS:\s*(\d+)", line)
    if not match:
        raise ValueError(f"malformed +CMGS reply: {line!r}")
    return int(match.group(1))


def parse_info(lines: Iterable[str], *prefixes: str) -> str:
    """The text of an identification reply (+CGMI, +CGMM, +CGMR, +CGSN, +CIMI) without 'OK' or an echo.

    Some modems prefix the value ('+CGMR: 1.0', SIMCom's 'Revision:…'): give those prefixes to strip.
    Multi-line replies (Quectel M95's +CGMI) keep the first line.
    """
    for line in lines:
        text = line.strip()
        if not text or text == "OK" or text.upper().startswith("AT"):
            continue
        for prefix in prefixes:
            if text.startswith(prefix):
                text = text[len(prefix) :].strip()
                break
        return text.strip('"')
    return ""


# --- error classification -------------------------------------------------------------------------------------

# +CMS ERROR values (TS 27.005 §3.2.5): 0..127 are RP-causes (TS 24.011 §8.2.5.4 / Annex E), 128..255 are
# TP-FCS values (TS 23.040 §9.2.3.22), 300..511 TS 27.005's own, 512.. manufacturer specific.
# Permanent means: the same message to the same destination fails again, on any modem. Everything else is
# temporary, including whatever we do not know (a retry cap in the pool bounds the cost of a wrong guess);
# faults of our own SIM or modem are temporary too, because another modem may well serve the message.
PERMANENT_CMS: dict[int, str] = {
    1: "unassigned (unallocated) number",
    21: "short message transfer rejected",
    29: "facility rejected",
    30: "unknown subscriber",
    69: "requested facility not implemented",
    95: "invalid message, unspecified",
    96: "invalid mandatory information",
    97: "message type non-existent or not implemented",
    99: "information element non-existent or not implemented",
    128: "telematic interworking not supported",
    129: "short message type 0 not supported",
    130: "cannot replace short message",
    143: "unspecified TP-PID error",
    144: "data coding scheme (alphabet) not supported",
    145: "message class not supported",
    159: "unspecified TP-DCS error",
    160: "command cannot be actioned",
    161: "command unsupported",
    175: "unspecified TP-Command error",
    176: "TPDU not supported",
    193: "no SC subscription",
    195: "invalid SME address",
    196: "destination SME barred",
    197: "SM rejected - duplicate SM",
    198: "TP-VPF not supported",
    199: "TP-VP not supported",
    304: "invalid PDU mode parameter",
    305: "invalid text mode parameter",
}

# The network refuses our SIM itself, whatever the message: a prepaid SIM out of credit (operators answer with
# barring), a barred SIM, one without an SMS subscription. Another modem may serve the message; this SIM rests.
NO_CREDIT_CMS: dict[int, str] = {
    8: "operator determined barring: out of credit?",
    10: "call barred: out of credit?",
    50: "requested facility not subscribed: out of credit or no SMS on this SIM's plan?",
}

# Known temporary ones, listed so the decision is visible (the default is temporary anyway).
TEMPORARY_CMS: dict[int, str] = {
    22: "memory capacity exceeded",
    27: "destination out of order (handset unreachable now)",
    28: "unidentified subscriber (our SIM unknown to the network: another modem may serve)",
    38: "network out of order",
    41: "temporary failure",
    42: "congestion",
    47: "resources unavailable, unspecified",
    81: "invalid short message transfer reference value",
    98: "message not compatible with short message protocol state",
    111: "protocol error, unspecified",
    127: "interworking, unspecified",
    192: "SC busy",
    194: "SC system failure",
    208: "SIM SMS storage full",
    210: "error in MS",
    211: "memory capacity exceeded",
    212: "SIM application toolkit busy",
    255: "unspecified error cause",
    300: "ME failure",
    301: "SMS service of ME reserved",
    302: "operation not allowed",
    303: "operation not supported (by this modem)",
    310: "SIM not inserted",
    311: "SIM PIN required",
    313: "SIM failure",
    314: "SIM busy",
    315: "SIM wrong",
    316: "SIM PUK required",
    320: "memory failure",
    321: "invalid memory index",
    322: "memory full",
    330: "SMSC address unknown",
    331: "no network service",
    332: "network timeout",
    340: "no +CNMA acknowledgement expected",
    500: "unknown error",
}

# +CME ERROR (TS 27.007 §9.2) on a send is about the modem or SIM, so temporary, except the ones that say the
# number or text itself is unusable.
PERMANENT_CME: dict[int, str] = {
    24: "text string too long",
    25: "invalid characters in text string",
    26: "dial string too long",
    27: "invalid characters in dial string",
}


# Errors on a send that describe the modem, the SIM or the registration, whatever the message (27.005 §3.2.5,
# 27.007 §9.2): a flapping SIM or a lost network must not use up the attempts of the messages it refuses.
MODEM_FAULT_CMS = frozenset({310, 311, 312, 313, 314, 315, 316, 330, 331})
MODEM_FAULT_CME = frozenset({10, 11, 12, 13, 14, 15, 30, 32})


def is_permanent(kind: ErrorKind, code: int) -> bool:
    """Whether a +CMS/+CME error on a send means the message can never go (see the tables above)."""
    table = PERMANENT_CMS if kind == "CMS" else PERMANENT_CME
    return code in table


def describe(kind: ErrorKind, code: int) -> str:
    if kind == "CMS":
        text = PERMANENT_CMS.get(code) or NO_CREDIT_CMS.get(code) or TEMPORARY_CMS.get(code)
        if text is None and code >= 512:
            text = "manufacturer specific"
    else:
        text = PERMANENT_CME.get(code)
    return f"+{kind} ERROR: {code}" + (f" ({text})" if text else "")


def send_error(kind: ErrorKind, code: int) -> SendError:
    """The exception for a refused part: NoCreditSendError, ModemFaultSendError, PermanentSendError or
    TemporarySendError, with `error_code`."""
    if kind == "CMS" and code in NO_CREDIT_CMS:
        return NoCreditSendError(describe(kind, code), error_code=code, error_kind=kind)
    if code in (MODEM_FAULT_CMS if kind == "CMS" else MODEM_FAULT_CME):
        return ModemFaultSendError(describe(kind, code), error_code=code, error_kind=kind)
    cls = PermanentSendError if is_permanent(kind, code) else TemporarySendError
    return cls(describe(kind, code), error_code=code, error_kind=kind)


def parse_error_line(line: str) -> tuple[ErrorKind, int] | None:
    """'+CMS ERROR: 500' → ('CMS', 500); anything else → None."""
    match = _ERROR_LINE.match(line.strip())
    if not match:
        return None
    return match.group(1), int(match.group(2))  # type: ignore[return-value]


# --- USSD, SIM and storage (the worker's USSD and the doctor's checks) ----------------------------------

_CUSD = re.compile(r'^\+CUSD:\s*(\d+)\s*(?:,\s*"(.*)"\s*(?:,\s*(\d+))?)?\s*$')
USSD_STATUS = {
    0: "no further action required",
    1: "further user action required",
    2: "USSD terminated by the network",
    3: "another local client has responded",
    4: "operation not supported",
    5: "network time out",
}


def parse_cusd(line: str) -> tuple[int, str | None, int | None]:
    """'+CUSD: <m>[,"<str>"[,<dcs>]]' (TS 27.007 §7.15) → (m, text as sent, dcs). The text may hold commas."""
    match = _CUSD.match(line.strip())
    if not match:
        raise ValueError(f"not a +CUSD line: {line!r}")
    status, text, dcs = match.groups()
    return int(status), text, (int(dcs) if dcs is not None else None)


def decode_ussd_text(text: str, dcs: int | None, charset: str = "GSM") -> str:
    """The answer's text: UCS-2 (dcs 72) arrives as hex whatever the terminal charset; else as `charset` says."""
    return decode_te_text(text, "UCS2" if dcs == 72 else charset)


_UCS2_HEX = re.compile(r"(?:[0-9A-Fa-f]{4})+")
# In the GSM charset a modem sends GSM 7-bit code points one a byte. Those that are letters in GSM and controls
# or brackets in ASCII are taken as GSM (é is 0x05, Ä 0x5B, ü 0x7E); the rest as ASCII, which is what modems
# that claim GSM send for '$', '@' and '_' in practice.
_GSM_LETTERS = {code: GSM7_BASIC[code] for code in (*range(0x00, 0x20), *range(0x5B, 0x61), *range(0x7B, 0x80))
                if code not in (0x0A, 0x0D, 0x1B)}


def decode_te_text(text: str, charset: str) -> str:
    """A string the modem gave in its +CSCS character set (an operator's name, a USSD answer, a number), as
    Unicode: UCS2 arrives as hex, four digits a character; GSM as GSM 7-bit code points; IRA, 8859-1 and UTF-8
    as they were read."""
    charset = charset.upper()
    if charset == "UCS2" and _UCS2_HEX.fullmatch(text):
        try:
            return bytes.fromhex(text).decode("utf-16-be")
        except UnicodeDecodeError:
            return text
    if charset == "GSM":
        return "".join(_GSM_LETTERS.get(ord(char), char) for char in text)
    return text


def parse_cscs(line: str) -> str:
    """'+CSCS: "UCS2"' → 'UCS2'."""
    match = re.match(r'^\+CSCS:\s*"?([^"]*)"?\s*$', line)
    if not match or not match.group(1):
        raise ValueError(f"not a +CSCS reply: {line!r}")
    return match.group(1).upper()


def parse_cnum(lines: Iterable[str], charset: str = "IRA") -> str | None:
    """'+CNUM: "<alpha>","<number>",<type>' → the number (with '+' for type 145, in `charset`: hex in UCS2);
    None when the SIM has none."""
    for line in lines:
        if not line.startswith("+CNUM:"):
            continue
        match = re.match(r'^\+CNUM:\s*(?:"[^"]*"|[^,]*)\s*,\s*"([^"]*)"\s*(?:,\s*(\d+))?', line)
        if match and match.group(1).strip():
            number = decode_te_text(match.group(1).strip(), charset)
            if match.group(2) == "145" and not number.startswith("+"):
                number = "+" + number
            return number
    return None


def parse_cpin(line: str) -> str:
    """'+CPIN: READY' / '+CPIN: SIM PIN' / '+CPIN: SIM PUK' → the code after the colon."""
    if not line.startswith("+CPIN:"):
        raise ValueError(f"not a +CPIN reply: {line!r}")
    return line.partition(":")[2].strip().strip('"')


def parse_csca(line: str) -> str | None:
    """'+CSCA: "<number>",<type>' → the SMS centre's number; None when it is not set."""
    if not line.startswith("+CSCA:"):
        raise ValueError(f"not a +CSCA reply: {line!r}")
    match = re.search(r'"([^"]*)"', line)
    number = (match.group(1) if match else line.partition(":")[2].partition(",")[0]).strip()
    return number if number.strip("+").isdigit() else None


def parse_cpms_usage(line: str) -> list[tuple[str, int, int]]:
    """'+CPMS: "SM",3,30,"ME",0,100,…' (the read answer) → [(memory, used, total), …]."""
    if not line.startswith("+CPMS:"):
        raise ValueError(f"not a +CPMS reply: {line!r}")
    return [(mem, int(used), int(total))
            for mem, used, total in re.findall(r'"([A-Z]{2})"\s*,\s*(\d+)\s*,\s*(\d+)', line)]
