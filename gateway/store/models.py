"""SQLAlchemy 2 typed models. Portable between SQLite and PostgreSQL; datetimes are UTC-aware."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, cast

from sqlalchemy import (BigInteger, DateTime, Enum, ForeignKey, Index, String, Table, Text, TypeDecorator,
                        UniqueConstraint, false, text)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gateway.rules.quota import Quota
from gateway.store.sealing import Sealed
from gateway.values import DeliveryState, InboxState, MessageState, ModemState, PartState


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns timezone-aware UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


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
        Index("ix_messages_queue", "state", "priority", "id"),  # a claim's order: it reads the queue's head only
        Index("ix_messages_to", "to_number", "id"),
        Index("ix_messages_sent_at", "sent_at"),  # throughput and health figures
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    to_number: Mapped[str] = mapped_column(Sealed(128, number=True))
    body: Mapped[str] = mapped_column(Sealed())
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
    route_group: Mapped[Optional[str]] = mapped_column(String(64))  # only modems of this group may send it
    expires_at: Mapped[Optional[datetime]]  # validity: not sent by then, it expires
    body_purged: Mapped[bool] = mapped_column(default=False, server_default=false())  # retention emptied it
    # its rule's fallback group: a queued message moves there when its route_group has no modem online
    fallback_group: Mapped[Optional[str]] = mapped_column(String(64))
    # marketing: the recipient's quiet window ("21:00-08:00", local time), checked again when a modem claims it
    quiet_hours: Mapped[Optional[str]] = mapped_column(String(11))
    account_id: Mapped[Optional[int]]  # the account it counts against (accounts.id), kept when the account goes
    cost: Mapped[Optional[float]]  # its estimated cost, for an account's budget (given back with its parts)

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
    text: Mapped[str] = mapped_column(Sealed())
    masked_text: Mapped[Optional[str]] = mapped_column(Sealed())  # replaces `text` once sent (an OTP masked)
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
    __table_args__ = (Index("ix_inbox_received", "id"), Index("ix_inbox_sender", "sender", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    modem: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(Sealed(128, number=True))
    recipient: Mapped[Optional[str]] = mapped_column(Sealed(128, number=True))  # the receiving SIM's (+CNUM)
    text: Mapped[str] = mapped_column(Sealed())
    part_count: Mapped[int]  # parts received
    parts_expected: Mapped[Optional[int]]  # parts the sender sent (their concatenation header's total)
    state: Mapped[InboxState] = mapped_column(_enum(InboxState))
    sent_at: Mapped[Optional[datetime]]  # the service centre's time stamp
    received_at: Mapped[datetime]  # committed here
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    in_reply_to_id: Mapped[Optional[int]] = mapped_column(ForeignKey("messages.id"))  # our last message to them
    follow_up: Mapped[bool] = mapped_column(default=False, server_default=false())  # an inbound rule flagged it
    read_at: Mapped[Optional[datetime]]  # a person opened its conversation in the page

    in_reply_to: Mapped[Optional[Message]] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<InboxMessage {self.uid} from={self.sender} parts={self.part_count}>"


class InboundPart(Base):
    """A part of a concatenated incoming SMS waiting for its siblings."""

    __tablename__ = "inbound_parts"
    __table_args__ = (Index("ix_inbound_parts_group", "modem", "sender", "concat_ref", "total"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    modem: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(Sealed(128, number=True))
    concat_ref: Mapped[int]
    total: Mapped[int]
    seq: Mapped[int]
    text: Mapped[str] = mapped_column(Sealed())
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
    group: Mapped[Optional[str]] = mapped_column(String(64))  # its routing group (config [[modems]] group)
    storage_used: Mapped[Optional[int]]  # SMS in the modem's receive memory (+CPMS?), when known
    storage_total: Mapped[Optional[int]]  # that memory's size
    degraded_since: Mapped[Optional[datetime]]  # its canary probe never arrived (gateway/core/canary.py)
    kind: Mapped[str] = mapped_column(String(16), default="modem", server_default="modem")  # or "upstream"
    bundle_size: Mapped[Optional[int]]  # its plan's monthly bundle of SMS parts ([[modems]] bundle_sms), if any
    bundle_used: Mapped[Optional[int]]  # parts sent in the bundle's current month
    bundle_resets_at: Mapped[Optional[datetime]]
    # what an admin changed while the box runs (gateway/core/modem_control.py), over [[modems]]; None: the config's.
    # Its worker takes them up at once on its own box, at its next health poll on another
    label: Mapped[Optional[str]] = mapped_column(String(64))  # the name people see ("Reception's SIM")
    changed_group: Mapped[Optional[str]] = mapped_column(String(64))
    changed_cost: Mapped[Optional[float]]
    changed_per_minute: Mapped[Optional[int]]
    changed_per_hour: Mapped[Optional[int]]

    def __repr__(self) -> str:
        return f"<Modem {self.name} {self.state.value}>"


class BoxRecord(Base):
    """A gateway box sharing this database: who it is, and when it last said it was alive (its heartbeat)."""

    __tablename__ = "boxes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))  # alive, dead (declared by another box), stopped
    incarnation: Mapped[int] = mapped_column(default=1)  # one more at each start

    def __repr__(self) -> str:
        return f"<BoxRecord {self.name} {self.state} on {self.host}>"


class QuarantinedSms(Base):
    """A stored SMS the box could not decode or store, kept as the raw PDU the modem gave (sealed: it holds the
    sender and the text) so nothing is lost; the modem's copy is deleted once this row is committed."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    modem: Mapped[str] = mapped_column(String(64))
    memory: Mapped[str] = mapped_column(String(8))  # where it was stored: "SM", "ME", ...
    slot: Mapped[int]  # its index there
    pdu: Mapped[str] = mapped_column(Sealed())
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)

    def __repr__(self) -> str:
        return f"<QuarantinedSms {self.uid} {self.modem} {self.memory}/{self.slot}>"


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
    expires_at: Mapped[Optional[datetime]]  # refused from then on (an expiry, or the end of a rotation overlap)
    account_id: Mapped[Optional[int]]  # the account its sends count against (accounts.id)

    def __repr__(self) -> str:
        return f"<ApiKey {self.id} {self.name} {self.prefix}…>"


class AdminSetting(Base):
    """A named gateway-wide value kept in the database (e.g. the status page's admin password hash)."""

    __tablename__ = "admin_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Sealed())  # sealed: it holds the session and callback secrets
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<AdminSetting {self.key}>"


class StatusReportRecord(Base):
    """Every SMS-STATUS-REPORT a modem gave, matched to its part when one is known (kept when not)."""

    __tablename__ = "status_reports"
    __table_args__ = (Index("ix_status_reports_unmatched", "modem", "reference", "part_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    modem: Mapped[str] = mapped_column(String(64))
    reference: Mapped[int]
    recipient: Mapped[str] = mapped_column(Sealed(128, number=True))
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
    secret: Mapped[str] = mapped_column(Sealed(128))
    created_at: Mapped[datetime]
    deleted_at: Mapped[Optional[datetime]]
    # JSON list of the boxes whose config names this receiver; None: made by an API (or by a config before 0010)
    config_boxes: Mapped[Optional[str]] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<Webhook {self.uid} {self.url}>"


class Event(Base):
    """One event, written in the transaction of the state change that caused it; the payload is frozen."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_subject", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(32))  # the message (or inbox message) id it is about
    payload: Mapped[str] = mapped_column(Sealed())  # the JSON body, exactly as POSTed
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


class MessageTemplate(Base):
    """A named message text with `{placeholders}`; only approved ones send when the config asks for approval."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("name", name="uq_templates_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    is_approved: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    account_id: Mapped[Optional[int]]  # the account it belongs to (accounts.id); None: shared by everyone

    def __repr__(self) -> str:
        return f"<MessageTemplate {self.name} approved={self.is_approved}>"


class Suppression(Base):
    """A number that opted out: marketing messages to it are refused while its row exists."""

    __tablename__ = "suppressions"

    number: Mapped[str] = mapped_column(Sealed(128, number=True), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # api, sms, admin
    since: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Suppression {self.number} {self.source}>"


class ConsentEvent(Base):
    """One change of a number's consent, kept for good: opt_out or opt_in, with its source and time."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_number", "number", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(Sealed(128, number=True))
    action: Mapped[str] = mapped_column(String(16))  # opt_out, opt_in
    source: Mapped[str] = mapped_column(String(16))  # api, sms, admin
    detail: Mapped[Optional[str]] = mapped_column(Text)  # the keyword and modem, or the key's name
    at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<ConsentEvent {self.number} {self.action} {self.source}>"


class OtpCode(Base):
    """A one-time code sent by SMS: only its salted HMAC-SHA256 is kept; it expires and allows few attempts."""

    __tablename__ = "otp_codes"
    __table_args__ = (UniqueConstraint("uid", name="uq_otp_codes_uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(Sealed(128, number=True))
    code_hash: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(32))
    attempts_left: Mapped[int]
    expires_at: Mapped[datetime]
    verified_at: Mapped[Optional[datetime]]
    message_uid: Mapped[Optional[str]] = mapped_column(String(32))  # the SMS that carried it
    api_key_id: Mapped[Optional[int]]
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<OtpCode {self.uid} to={self.to_number} attempts_left={self.attempts_left}>"


class IdempotencyRecord(Base):
    """The first answer to a POST carrying an Idempotency-Key (or client_ref), per API key: a retry gets it
    again instead of sending twice. `status` 0 means the first request is still being answered."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int]  # 0 when no key (never on the API)
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    response: Mapped[str] = mapped_column(Sealed())
    created_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<IdempotencyRecord {self.api_key_id}:{self.key} {self.status}>"


class User(Base):
    """A person who logs in to the box's pages with their own password (only a scrypt hash is kept), in a role:
    admin (everything), operator (sending, conversations, contacts), viewer (looking only)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_login_at: Mapped[Optional[datetime]]
    account_id: Mapped[Optional[int]]  # the account their sends count against (accounts.id)
    # their second login step (gateway/core/admin_auth.py): the authenticator app's TOTP secret, None when off
    totp_secret: Mapped[Optional[str]] = mapped_column(Sealed())
    totp_step: Mapped[Optional[int]] = mapped_column(BigInteger)  # the last time step a code was accepted for


class Account(Base):
    """A department or tenant: its users' and API keys' sends count against its quota (gateway/rules/quota.py)
    and leave only by its routes."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    per_day: Mapped[Optional[int]]  # SMS parts a UTC day; None: no limit
    per_month: Mapped[Optional[int]]  # SMS parts a calendar month
    budget: Mapped[Optional[float]]  # cost units a calendar month
    routes: Mapped[str] = mapped_column(String(512), default="")  # comma-separated modems, groups, upstreams; "": any
    created_at: Mapped[datetime]

    @property
    def route_list(self) -> list[str]:
        return [r for r in self.routes.split(",") if r]

    @property
    def quota(self) -> Quota:
        return Quota(self.per_day, self.per_month, self.budget)


class AccountDay(Base):
    """What an account's messages accepted on one UTC day use: their parts and estimated cost, less those
    cancelled or expired before they left. Kept as messages queue and give back, so that checking a quota reads
    a month's rows at most, whatever the number of its messages."""

    __tablename__ = "account_days"

    account_id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[datetime] = mapped_column(primary_key=True)  # 00:00 UTC
    parts: Mapped[int]
    cost: Mapped[float]


class AuditEntry(Base):
    """One admin action: who (a key's name or "admin"), what, on what, from where, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))  # key.created, message.cancelled, login.failed, ...
    target: Mapped[Optional[str]] = mapped_column(String(128))
    remote_addr: Mapped[Optional[str]] = mapped_column(String(64))
    detail: Mapped[Optional[str]] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<AuditEntry {self.actor} {self.action} {self.target}>"


class Batch(Base):
    """One bulk request (a CSV upload): its rows' messages are linked in batch_messages; bad rows kept here."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("uid", name="uq_batches_uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32))
    template: Mapped[Optional[str]] = mapped_column(String(64))
    row_count: Mapped[int]
    accepted: Mapped[int]
    rejected: Mapped[str] = mapped_column(Text)  # JSON list of {row, field, code, message}
    api_key_id: Mapped[Optional[int]]
    created_at: Mapped[datetime]
    account_id: Mapped[Optional[int]]  # the account it was sent for (accounts.id): only its people and keys see it

    def __repr__(self) -> str:
        return f"<Batch {self.uid} rows={self.row_count} accepted={self.accepted}>"


class BatchMessage(Base):
    """A message queued by a batch."""

    __tablename__ = "batch_messages"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", name="fk_batch_messages_batch_id"),
                                          primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", name="fk_batch_messages_message_id",
                                                       ondelete="CASCADE"), primary_key=True)

    def __repr__(self) -> str:
        return f"<BatchMessage {self.batch_id}:{self.message_id}>"


class ApiRequestWindow(Base):
    """How many requests an API key made in one fixed minute (the per-key request limit, across processes)."""

    __tablename__ = "api_request_windows"

    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", name="fk_api_request_windows_api_key_id",
                                                       ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int]

    def __repr__(self) -> str:
        return f"<ApiRequestWindow key={self.api_key_id} {self.window_start:%H:%M} n={self.count}>"


def table(model: type[Base]) -> Table:
    """The table a model maps (typed as the Table it is, for Core statements)."""
    return cast(Table, model.__table__)


class InboundRule(Base):
    """A rule run on each received SMS (gateway/rules/inbound.py, gateway/core/inbound_rules.py), in `position`
    order. Lists are stored comma-separated."""

    __tablename__ = "inbound_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool]
    stop: Mapped[bool]  # later rules are not tried on an SMS this one matched
    keyword: Mapped[Optional[str]] = mapped_column(String(64))
    pattern: Mapped[Optional[str]] = mapped_column(String(500))
    senders: Mapped[str] = mapped_column(Text, default="")
    modem: Mapped[Optional[str]] = mapped_column(String(64))
    hours: Mapped[Optional[str]] = mapped_column(String(16))
    time_zone: Mapped[str] = mapped_column(String(64))
    reply: Mapped[Optional[str]] = mapped_column(Text)  # auto-reply text, with {fields}
    forward_to: Mapped[str] = mapped_column(Text, default="")  # numbers
    forward_text: Mapped[Optional[str]] = mapped_column(Text)  # default: "From {from}: {text}"
    email_to: Mapped[str] = mapped_column(Text, default="")
    webhook_url: Mapped[Optional[str]] = mapped_column(String(2048))
    follow_up: Mapped[bool]
    sender_groups: Mapped[str] = mapped_column(Text, default="")  # contact group names
    add_to_group: Mapped[Optional[str]] = mapped_column(String(100))  # the sender joins it
    remove_from_group: Mapped[Optional[str]] = mapped_column(String(100))  # the sender leaves it
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RuleRun(Base):
    """A rule that matched a received SMS, and what it did: the rules' history and their loop guard's count."""

    __tablename__ = "rule_runs"
    __table_args__ = (Index("ix_rule_runs_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_uid: Mapped[str] = mapped_column(String(32))
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(Sealed(128, number=True))
    at: Mapped[datetime]
    replied: Mapped[bool]  # an auto-reply or forward went out (the per-sender hourly guard counts these)
    outcome: Mapped[str] = mapped_column(Text)  # what it did, or why not, in words

    inbox: Mapped[InboxMessage] = relationship(lazy="joined")


class Alert(Base):
    """Something wrong that lasts (gateway/core/alerts.py): raised once per occurrence, resolved when it ends;
    the rows are the history. At most one row per `key` is unresolved."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_key_open", "key", "resolved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    key: Mapped[str] = mapped_column(String(160))  # the condition and what it is about: "modem_down:modem1"
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime]
    resolved_at: Mapped[Optional[datetime]]
    muted_until: Mapped[Optional[datetime]]  # no notice (raise or resolve) goes out before then


class Probe(Base):
    """A canary SMS from one of our SIMs to another (gateway/core/canary.py): waiting, arrived, or late."""

    __tablename__ = "probes"
    __table_args__ = (Index("ix_probes_state", "state", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(16), unique=True)
    from_modem: Mapped[str] = mapped_column(String(64))
    to_modem: Mapped[str] = mapped_column(String(64))
    message_uid: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime]  # queued, in fact: a SIM that never sends it is as silent as one that loses it
    arrived_at: Mapped[Optional[datetime]]
    state: Mapped[str] = mapped_column(String(16))  # waiting, arrived, late


def _unique_in_each_book(table: str, column: str) -> tuple[Index, Index]:
    """`column` unique within each book of contacts: the box's own (account_id NULL) and each account's."""
    return (Index(f"ix_{table}_box_{column}", column, unique=True, sqlite_where=text("account_id IS NULL"),
                  postgresql_where=text("account_id IS NULL")),
            Index(f"ix_{table}_account_{column}", "account_id", column, unique=True,
                  sqlite_where=text("account_id IS NOT NULL"), postgresql_where=text("account_id IS NOT NULL")))


class Contact(Base):
    """A person the box's users write to: a number (one contact per number in each book), a name, and fields
    their templates may use (`fields`: a JSON object of strings). Name and fields are sealed like message bodies.
    Its book is its account's (`account_id`), seen and changed by that account's people and keys only, or the
    box's own (None)."""

    __tablename__ = "contacts"
    __table_args__ = _unique_in_each_book("contacts", "number")

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    number: Mapped[str] = mapped_column(Sealed(128, number=True))
    name: Mapped[str] = mapped_column(Sealed())
    fields: Mapped[str] = mapped_column(Sealed())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    account_id: Mapped[Optional[int]]  # the account whose book it is in (accounts.id); None: the box's own book


class ContactGroup(Base):
    """A named set of contacts (a class of parents, the night shift): a recipient of messages, a condition and
    an action of inbound rules. A dynamic group (`match_field` set) holds exactly the contacts whose field
    `match_field` is `match_value`: its member rows follow every change of a contact's fields. Its members are
    contacts of its own book (`account_id`, as a contact's); its name is unique within that book."""

    __tablename__ = "contact_groups"
    __table_args__ = _unique_in_each_book("contact_groups", "name")

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    match_field: Mapped[Optional[str]] = mapped_column(String(64))
    match_value: Mapped[Optional[str]] = mapped_column(Sealed())
    account_id: Mapped[Optional[int]]  # the account whose book it is in (accounts.id); None: the box's own book


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_contact", "contact_id"),)

    group_id: Mapped[int] = mapped_column(ForeignKey("contact_groups.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime]


@dataclass(frozen=True)
class Thread:
    """Not a table: one number's exchange with the box, for the conversations page (gateway/store/inbox.py)."""

    number: str
    last_at: datetime
    unread: int  # received SMS nobody has opened the conversation since
    last: Message | InboxMessage  # its latest message, either way
