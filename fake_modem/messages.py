"""Immutable values the fake modem hands to tests: what it sent and what it holds in storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

# +CMGL/+CMGR <stat> in PDU mode and its text-mode name
STAT_NAMES = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT"}


@dataclass(frozen=True)
class SentSms:
    """One SMS-SUBMIT (one part) the modem accepted via AT+CMGS."""

    number: str                                  # E.164 with '+' when TON international
    text: str                                    # decoded user data of this part
    encoding: Literal["gsm7", "ucs2", "8bit"]
    reference: int                               # TP-MR this modem returned in +CMGS
    concat: tuple[int, int, int] | None          # (ref, total, seq) from the UDH
    status_report_requested: bool                # TP-SRR
    pdu: str                                     # hex as received ('' in text mode)
    mode: Literal["pdu", "text"]


class StoredSms(NamedTuple):
    """One slot of SMS storage: the PDU hex (with SMSC field; an SMS-DELIVER, or an SMS-STATUS-REPORT
    in "SR") and its <stat> (0 unread, 1 read, 2 unsent, 3 sent). Unpacks as `pdu, status`."""

    pdu: str
    status: int

    @property
    def is_status_report(self) -> bool:
        first = int(self.pdu[2 + 2 * int(self.pdu[:2], 16):][:2], 16)
        return first & 0x03 == 0x02


def reassemble(sent: list[SentSms]) -> list[tuple[str, str]]:
    """(number, full text) per message as a phone would show it: concatenated parts are joined in
    sequence order (keyed by number and reference), single parts stand alone; order of first part."""
    groups: dict[tuple[str, int, int], list[SentSms]] = {}
    order: list[object] = []
    for sms in sent:
        if sms.concat is None:
            order.append(sms)
            continue
        key = (sms.number, sms.concat[0], sms.concat[1])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(sms)
    result = []
    for item in order:
        if isinstance(item, SentSms):
            result.append((item.number, _join([item])))
        else:
            parts = sorted(groups[item], key=lambda s: s.concat[2])  # type: ignore[index]
            result.append((item[0], _join(parts)))  # type: ignore[index]
    return result


def _join(parts: list[SentSms]) -> str:
    # A UCS-2 split may cut a surrogate pair between parts: join the UTF-16 units, then decode.
    units = b"".join(p.text.encode("utf-16-be", errors="surrogatepass") for p in parts)
    return units.decode("utf-16-be", errors="surrogatepass")
