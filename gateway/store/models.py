"""SQLAlchemy 2 typed models. Portable between SQLite and PostgreSQL; datetimes are UTC-aware."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import DateTime, Enum, ForeignKey, Index, String, Text, TypeDecorator, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns timezone-aware UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


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


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e],
                validate_strings=True)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class Message(Base):
    """One outbound SMS to one recipient (possibly several parts)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_claim", "state", "priority", "next_attempt_at", "id"),
        Index("ix_messages_to", "to_number", "id"),
        Index("ix_messages_sent_at", "sent_at"),  # throughput and health figures
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    to_number: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(8))
    part_count: Mapped[int]
    concat_ref: Mapped[int]
    state: Mapped[MessageState] = mapped_column(_enum(MessageState))
    priority: Mapped[int] = mapped_column(default=1)  # 0 high, 1 normal, 2 bulk
    delivery_report: Mapped[bool]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    modem: Mapped[Optional[str]] = mapped_column(String(64))  # claimed by / sent through
    pinned_modem: Mapped[Optional[str]] = mapped_column(String(64))  # parts already went out here
    avoid_modem: Mapped[Optional[str]] = mapped_column(String(64))  # last temporary failure was here
    lease_until: Mapped[Optional[datetime]]
    error_code: Mapped[Optional[str]] = mapped_column(String(64))
    error_message: Mapped[Optional[str]] = mapped_column(Text)
    api_key_id: Mapped[Optional[int]] = mapped_column(ForeignKey("api_keys.id"))
    status_callback: Mapped[Optional[str]] = mapped_column(String(2048))  # events about it are POSTed here
    report_overdue: Mapped[bool] = mapped_column(default=False, server_default=false())  # no report came in time
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[Optional[datetime]]

    parts: Mapped[list["Part"]] = relationship(back_populates="message", order_by="Part.seq",
                                               cascade="all, delete-orphan")
    events: Mapped[list["MessageEvent"]] = relationship(order_by="MessageEvent.id", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Message {self.uid} to={self.to_number} {self.state.value} parts={self.part_count}>"


class Part(Base):
    """One SMS-SUBMIT of a message, with the TP-MR the modem gave it."""

    __tablename__ = "parts"
    __table_args__ = (
        UniqueConstraint("message_id", "seq"),
        Index("ix_parts_report", "modem", "reference", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    seq: Mapped[int]  # 1-based
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[PartState] = mapped_column(_enum(PartState))
    modem: Mapped[Optional[str]] = mapped_column(String(64))
    reference: Mapped[Optional[int]]
    error_code: Mapped[Optional[str]] = mapped_column(String(64))
    submitted_at: Mapped[Optional[datetime]]
    sent_at: Mapped[Optional[datetime]]
    report_status: Mapped[Optional[int]]
    delivered_at: Mapped[Optional[datetime]]

    message: Mapped[Message] = relationship(back_populates="parts")

    def __repr__(self) -> str:
        return f"<Part {self.message_id}#{self.seq} {self.state.value} mr={self.reference}>"


class MessageEvent(Base):
    """One committed state change of a message or one of its parts: the history the API shows."""

    __tablename__ = "message_events"
    __table_args__ = (Index("ix_message_events_at", "at"),)  # the status page's per-minute history

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    part_seq: Mapped[Optional[int]]
    state: Mapped[str] = mapped_column(String(16))
    modem: Mapped[Optional[str]] = mapped_column(String(64))
    detail: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<MessageEvent {self.message_id}#{self.part_seq} {self.state}>"


class InboxMessage(Base):
    """One received SMS, its parts reassembled."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_received", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    modem: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    part_count: Mapped[int]
    state: Mapped[InboxState] = mapped_column(_enum(InboxState))
    sent_at: Mapped[Optional[datetime]]  # the service centre's time stamp
    received_at: Mapped[datetime]  # committed here
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    in_reply_to_id: Mapped[Optional[int]] = mapped_column(ForeignKey("messages.id"))  # our last message to them

    in_reply_to: Mapped[Optional[Message]] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<InboxMessage {self.uid} from={self.sender} parts={self.part_count}>"


class InboundPart(Base):
    """A part of a concatenated incoming SMS waiting for its siblings."""

    __tablename__ = "inbound_parts"
    __table_args__ = (Index("ix_inbound_parts_group", "modem", "sender", "concat_ref", "total"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    modem: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(32))
    concat_ref: Mapped[int]
    total: Mapped[int]
    seq: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[Optional[datetime]]
    received_at: Mapped[datetime]
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    inbox_id: Mapped[Optional[int]] = mapped_column(ForeignKey("inbox.id"))  # set once reassembled

    def __repr__(self) -> str:
        return f"<InboundPart {self.sender} ref={self.concat_ref} {self.seq}/{self.total}>"


class Modem(Base):
    """What the pool last knew about a modem: status is data, readable without the modem."""

    __tablename__ = "modems"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    port: Mapped[str] = mapped_column(String(255))
    state: Mapped[ModemState] = mapped_column(_enum(ModemState))
    manufacturer: Mapped[Optional[str]] = mapped_column(String(64))
    model: Mapped[Optional[str]] = mapped_column(String(64))
    imei: Mapped[Optional[str]] = mapped_column(String(32))
    operator: Mapped[Optional[str]] = mapped_column(String(64))
    registration: Mapped[Optional[str]] = mapped_column(String(16))
    rssi: Mapped[Optional[int]]
    signal_dbm: Mapped[Optional[int]]
    sent_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    received_count: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    updated_at: Mapped[datetime]
    box: Mapped[Optional[str]] = mapped_column(String(64))  # the gateway box whose pool runs this modem
    own_number: Mapped[Optional[str]] = mapped_column(String(32))  # the SIM's number (+CNUM), when known
    balance: Mapped[Optional[str]] = mapped_column(Text)  # the network's answer to the balance USSD code
    balance_checked_at: Mapped[Optional[datetime]]

    def __repr__(self) -> str:
        return f"<Modem {self.name} {self.state.value}>"


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; `prefix` lets people tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(64))  # comma-separated: send,read,admin
    created_at: Mapped[datetime]
    revoked_at: Mapped[Optional[datetime]]
    last_used_at: Mapped[Optional[datetime]]

    def __repr__(self) -> str:
        return f"<ApiKey {self.id} {self.name} {self.prefix}…>"


class AdminSetting(Base):
    """A named gateway-wide value kept in the database (e.g. the status page's admin password hash)."""

    __tablename__ = "admin_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<AdminSetting {self.key}>"


class DeliveryState(str, enum.Enum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    FAILED = "failed"  # a final answer (4xx) or the retry horizon passed


class StatusReportRecord(Base):
    """Every SMS-STATUS-REPORT a modem gave, matched to its part when one is known (kept when not)."""

    __tablename__ = "status_reports"
    __table_args__ = (Index("ix_status_reports_unmatched", "modem", "reference", "part_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    modem: Mapped[str] = mapped_column(String(64))
    reference: Mapped[int]
    recipient: Mapped[str] = mapped_column(String(32))
    status: Mapped[int]
    sent_at: Mapped[Optional[datetime]]
    discharged_at: Mapped[Optional[datetime]]
    received_at: Mapped[datetime]
    part_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parts.id"))

    def __repr__(self) -> str:
        return f"<StatusReportRecord {self.modem} mr={self.reference} st={self.status} part={self.part_id}>"


class Webhook(Base):
    """A registered receiver of events. The secret signs every delivery (HMAC-SHA256)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(String(255))  # comma-separated event types
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    deleted_at: Mapped[Optional[datetime]]

    def __repr__(self) -> str:
        return f"<Webhook {self.uid} {self.url}>"


class Event(Base):
    """One event, written in the transaction of the state change that caused it; the payload is frozen."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(32))  # the message (or inbox message) id it is about
    payload: Mapped[str] = mapped_column(Text)  # the JSON body, exactly as POSTed
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Event {self.uid} {self.type} {self.subject}>"


class Delivery(Base):
    """One event to one receiver (a webhook or a message's status_callback), with its retry state."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "state", "next_attempt_at", "id"),
        Index("ix_deliveries_order", "target", "subject", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    webhook_id: Mapped[Optional[int]] = mapped_column(ForeignKey("webhooks.id"), index=True)
    target: Mapped[str] = mapped_column(String(64))  # ordering key: "webhook:<id>" or "callback:<sha256 of url>"
    subject: Mapped[str] = mapped_column(String(32))  # deliveries of one subject to one target go in order
    url: Mapped[str] = mapped_column(String(2048))
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[Optional[datetime]]
    last_status: Mapped[Optional[int]]
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[Optional[datetime]]

    def __repr__(self) -> str:
        return f"<Delivery {self.uid} {self.state.value} attempts={self.attempts}>"


class DeliveryAttempt(Base):
    """One POST of a delivery and what came of it."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime]
    status_code: Mapped[Optional[int]]
    error: Mapped[Optional[str]] = mapped_column(Text)
    duration_ms: Mapped[float]

    def __repr__(self) -> str:
        return f"<DeliveryAttempt {self.delivery_id} {self.status_code or self.error}>"
