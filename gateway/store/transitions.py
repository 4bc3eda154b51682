"""A message's state machine: every move of a message is a committed history row, the masking of one-time
codes once nothing will send them again, and the event the new state fires — inside the caller's transaction.

Used by the outbox (sends, failures, releases), status reports and the privacy verbs alike, so a state has one
meaning wherever it is set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, selectinload

from gateway.representations import message_json
from gateway.rules.quota import FREE_STATES
from gateway.store.accounts import give_back
from gateway.store.events import Events
from gateway.store.models import Message, MessageEvent, Part, table
from gateway.values import MessageState, PartState

EVENT_OF_STATE = {MessageState.DELIVERED: "message.delivered", MessageState.FAILED: "message.failed",
                  MessageState.EXPIRED: "message.expired"}
SETTLED = (MessageState.SENT, MessageState.DELIVERED, MessageState.FAILED, MessageState.EXPIRED,
           MessageState.CANCELLED, MessageState.UNKNOWN)  # no part of it is sent again by itself

_parts = table(Part)
_MASK_PARTS = (update(_parts)
               .where(_parts.c.message_id == bindparam("p_message_id"), _parts.c.masked_text.is_not(None))
               .values(text=_parts.c.masked_text, masked_text=None))


def transition(s: Session, events: Events, message: Message, state: MessageState, now: datetime, *,
               modem: str | None = None, detail: str | None = None) -> None:
    """Move `message` to `state` with its history row, and queue the event that state fires, if any."""
    message.state, message.updated_at = state, now
    if state in FREE_STATES:  # it never left: its parts count against its account no more
        give_back(s.connection(), message)
    s.add(MessageEvent(message_id=message.id, state=state.value, modem=modem, detail=detail, at=now))
    if state in SETTLED:  # nothing of it is sent again: a one-time code in its parts is not needed any more
        s.execute(_MASK_PARTS, {"p_message_id": message.id})
    if state in EVENT_OF_STATE:
        s.flush()
        conn = s.connection()
        events.emit(conn, EVENT_OF_STATE[state], message.uid, lambda: message_resource(conn, message.id),
                    message.status_callback, now)


def mark_unknown(s: Session, events: Events, message: Message, parts: list[Part], detail: str,
                 now: datetime) -> None:
    """Parts that went to the modem with no answer: they and their message are `unknown`, never re-sent."""
    for part in parts:
        part.state = PartState.UNKNOWN
        s.add(MessageEvent(message_id=message.id, part_seq=part.seq, state=PartState.UNKNOWN.value,
                           modem=part.modem, detail=detail, at=now))
    message.lease_until = None
    message.error_code, message.error_message = "outcome_unknown", detail
    transition(s, events, message, MessageState.UNKNOWN, now, modem=message.modem, detail=detail)


def fail_remaining(message: Message, error_code: str) -> None:
    """The parts of `message` not yet sent (nor in flight) fail with it."""
    for part in message.parts:
        if part.state in (PartState.PENDING, PartState.SUBMITTING):
            part.state, part.error_code = PartState.FAILED, error_code


def message_resource(conn: Connection, message_id: int) -> dict[str, Any]:
    """The message as the API shows it, read in the transaction of `conn` (for an event's payload)."""
    with Session(bind=conn) as s:
        message = s.get_one(Message, message_id, options=[selectinload(Message.parts), selectinload(Message.events)])
        return message_json(message)
