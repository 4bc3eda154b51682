"""The gateway's vocabulary: the states a message, part, modem, inbox entry or delivery can be in, the
immutable values that cross the modem seam (what a modem stored, a status report, a PDU to submit), and those
that cross the outbox's (a message to queue, a claimed message to send).

Imported by every layer (store, modem driver, pool, web, hardware) and importing none of them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypedDict

Encoding = Literal["gsm7", "ucs2"]  # the alphabet of a message's parts (gateway.rules.text)
EVENT_TYPES = ("message.sent", "message.delivered", "message.failed", "message.received", "message.expired",
               "message.updated",  # updated: a late part completed a received message flushed incomplete
               "alert.raised", "alert.resolved",  # gateway/core/alerts.py
               "modem.degraded")  # gateway/core/canary.py: a SIM's probe did not arrive
TEST_EVENT = "webhook.test"  # sent to one webhook by hand (whatever events it takes): it is reachable

ROLES = ("admin", "operator", "viewer")  # a user's role in the pages (gateway/core/admin_auth.py), most rights first
NO_CREDIT = "out of credit or barred"  # a modem's last_error begins so while the network refuses its SIM
PRIORITIES = {"high": 0, "normal": 1, "bulk": 2}  # a message's priority number: the claim takes the lowest first


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


CANCELLABLE = (MessageState.QUEUED, MessageState.SCHEDULED)  # a client or a person may still cancel these
RETRYABLE = (MessageState.FAILED, MessageState.UNKNOWN)  # a person may queue these again


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
    SEARCHING = "searching"  # connected, looking for a network to register on
    NO_SIM = "no_sim"  # connected, its SIM removed, not inserted or failed


class InboxState(str, enum.Enum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"  # some parts never arrived before the reassembly timeout


class DeliveryState(str, enum.Enum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    FAILED = "failed"  # a final answer (4xx) or the retry horizon passed


class ModemChanges(TypedDict):
    """What an admin changed of a modem over its `[[modems]]` config, as its row keeps it (None: the config's)."""

    label: str | None
    changed_group: str | None
    changed_cost: float | None
    changed_per_minute: int | None
    changed_per_hour: int | None


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
    pdu_hex: str = field(default="", compare=False)  # as the modem gave it (kept if it cannot be recorded)


@dataclass(frozen=True)
class UnreadableSms:
    """A stored PDU the box cannot decode (bad hex, truncated, an unsupported coding): kept raw in quarantine,
    then deleted from the modem so it does not fill the SIM."""

    memory: str
    index: int
    pdu_hex: str
    reason: str


@dataclass(frozen=True)
class MessageDraft:
    """A validated, normalised message ready to be queued."""

    to_number: str
    body: str
    encoding: Encoding
    parts: tuple[str, ...]
    delivery_report: bool
    priority: int = 1
    via_modem: str | None = None  # send through this modem only
    status_callback: str | None = None  # events about the message are POSTed here
    send_at: datetime | None = None  # held (scheduled) until then
    expires_at: datetime | None = None  # not sent by then: expired
    route_group: str | None = None  # only modems of this group may send it
    fallback_group: str | None = None  # when route_group has no modem online, the message moves to this group
    quiet_hours: str | None = None  # marketing: not sent in this window of the recipient's local time
    masked_parts: tuple[str, ...] | None = None  # what each part's stored text becomes once it has left (OTP)
    note: str | None = None  # the detail of its first history row (why the box itself queued it)
    cost: float | None = None  # its estimated cost, when it counts against an account's budget


@dataclass(frozen=True)
class SendJob:
    """A claimed message: what a worker needs to send its remaining parts."""

    message_id: int
    uid: str
    to_number: str
    encoding: Encoding
    concat_ref: int
    delivery_report: bool
    attempt: int  # 1 on the first claim
    parts: tuple[str, ...]  # the text of every part, in order
    first_seq: int  # the first part still to send (1-based)
    status_callback: str | None = None
    priority: int = PRIORITIES["normal"]


@dataclass(frozen=True)
class SentPart:
    """Part `seq` of `job`, which the modem took (`+CMGS: reference` at `sent_at`): what recording it needs."""

    job: SendJob
    seq: int
    reference: int
    sent_at: datetime


@dataclass(frozen=True)
class DeliveryJob:
    """One claimed delivery: what to POST where, and with which secret (None: the callback secret)."""

    delivery_id: int
    uid: str
    url: str
    attempt: int  # 1 for the first POST
    event_uid: str
    event_type: str
    body: bytes
    event_created_at: datetime
    secret: str | None


@dataclass(frozen=True)
class Verification:
    """The outcome of one attempt at a one-time code."""

    verified: bool
    attempts_left: int
    expired: bool = False
