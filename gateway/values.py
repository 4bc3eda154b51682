"""The gateway's vocabulary: the states a message, part, modem, inbox entry or delivery can be in, and the
immutable values that cross the modem seam (what a modem stored, a status report, a PDU to submit).

Imported by every layer (store, modem driver, pool, web, hardware) and importing none of them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class MessageState(str, enum.Enum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class PartState(str, enum.Enum):
    PENDING = "pending"
    SUBMITTING = "submitting"  # committed just before the PDU goes to the modem
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"  # handed to the modem, then the process died: not re-sent


class ModemState(str, enum.Enum):
    CONNECTING = "connecting"
    ONLINE = "online"
    SENDING = "sending"
    OFFLINE = "offline"
    PIN_NEEDED = "pin_needed"
    NOT_REGISTERED = "not_registered"


class InboxState(str, enum.Enum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"  # some parts never arrived before the reassembly timeout


class DeliveryState(str, enum.Enum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    FAILED = "failed"  # a final answer (4xx) or the retry horizon passed


@dataclass(frozen=True)
class SubmitPdu:
    """One SMS-SUBMIT TPDU, ready for `AT+CMGS=<tpdu_length>` in PDU mode (hex includes the SMSC octet)."""

    hex: str
    tpdu_length: int


@dataclass(frozen=True)
class PartReceipt:
    """The modem accepted one part: TP-MR from `+CMGS: <mr>`."""

    reference: int


@dataclass(frozen=True)
class Concat:
    """Concatenation info from a UDH: which part of which multi-part message."""

    reference: int
    total: int
    sequence: int


@dataclass(frozen=True)
class ReceivedSms:
    """An SMS-DELIVER read from modem storage."""

    memory: str  # "SM", "ME", ...
    index: int
    sender: str  # as the network gave it, E.164 with '+' when international
    text: str
    sent_at: datetime | None  # service centre time stamp, timezone-aware
    concat: Concat | None
    pdu_hex: str


@dataclass(frozen=True)
class StatusReport:
    """An SMS-STATUS-REPORT read from modem storage or given in a +CDS URC (then index is None)."""

    memory: str | None
    index: int | None
    reference: int  # TP-MR of the part it reports on
    recipient: str
    status: int  # TP-ST: 0x00..0x1F delivered, 0x20..0x3F still trying, 0x40.. failed
    sent_at: datetime | None  # TP-SCTS
    discharged_at: datetime | None  # TP-DT
