"""Privacy: body retention (purging texts after a while), redacting or deleting one message, erasing a number."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from gateway.errors import ConflictError, MessageNotFound
from gateway.store.database import Database, changed
from gateway.store.events import empty_event_texts
from gateway.store.models import (
    ConsentEvent,
    Contact,
    GroupMember,
    Event,
    InboundPart,
    InboxMessage,
    Message,
    Part,
    QuarantinedSms,
    StatusReportRecord,
    Suppression,
)
from gateway.store.outbox import Outbox
from gateway.store.transitions import SETTLED  # a body is purged only once nothing will send it again

ERASED_PAYLOAD = json.dumps({"erased": True})


class Privacy:
    """Verbs that take texts and numbers out of the store: retention, redaction, deletion, erasure."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self._db, self._outbox = db, outbox

    def purge_bodies(self, before: datetime) -> dict[str, int]:
        """Empty the text of settled messages created before `before` (flagged body_purged; numbers, states
        and times kept) and of SMS received before it, with their parts and their events' payloads; quarantined
        SMS received before it are deleted (their raw PDU is the text and the number at once)."""
        with self._db.write() as s:
            messages = _purge_messages(s, Message.created_at < before, Message.body_purged.is_(False))
            old_inbox = (InboxMessage.received_at < before, InboxMessage.text != "")
            empty_event_texts(s, select(InboxMessage.uid).where(*old_inbox))
            inbox = changed(s.execute(update(InboxMessage).where(*old_inbox).values(text="")))
            s.execute(update(InboundPart).where(InboundPart.received_at < before, InboundPart.text != "")
                      .values(text=""))
            s.execute(delete(QuarantinedSms).where(QuarantinedSms.received_at < before))
        return {"messages": messages, "inbox": inbox}

    def redact_message(self, uid: str) -> Message:
        """Empty one settled message's text, its parts' and its events' (as retention does); ConflictError while
        it may still be sent."""
        with self._db.write() as s:
            message = _settled_message(s, uid, "redacted")
            _purge_messages(s, Message.id == message.id)
        return self._outbox.get_message(uid)

    def delete_message(self, uid: str) -> None:
        """Delete one settled message with its parts and history (status reports and replies that point at it
        stay, unlinked; its events stay, their text emptied); ConflictError while it may still be sent."""
        with self._db.write() as s:
            message = _settled_message(s, uid, "deleted")
            empty_event_texts(s, [message.uid])
            part_ids = select(Part.id).where(Part.message_id == message.id).scalar_subquery()
            s.execute(update(StatusReportRecord).where(StatusReportRecord.part_id.in_(part_ids))
                      .values(part_id=None))
            s.execute(update(InboxMessage).where(InboxMessage.in_reply_to_id == message.id)
                      .values(in_reply_to_id=None))
            s.delete(message)  # parts, history and batch links go with it (ORM cascade, ON DELETE CASCADE)

    def erase_number(self, number: str) -> dict[str, int]:
        """Everything about `number`: its messages' bodies, numbers and parts' text (the rows stay, as
        counts), the SMS it sent, the events about those messages and SMS (payloads are sealed: what they
        name cannot be searched), status reports, opt-out history, the contact with that number."""
        with self._db.write() as s:
            subjects = [*s.scalars(select(Message.uid).where(Message.to_number == number)),
                        *s.scalars(select(InboxMessage.uid).where(InboxMessage.sender == number))]
            events = changed(s.execute(update(Event).where(Event.subject.in_(subjects))
                               .values(payload=ERASED_PAYLOAD)))
            ids = select(Message.id).where(Message.to_number == number).scalar_subquery()
            parts = changed(s.execute(update(Part).where(Part.message_id.in_(ids)).values(text="")))
            messages = changed(s.execute(update(Message).where(Message.to_number == number)
                                 .values(body="", to_number="", body_purged=True)
                                 .execution_options(synchronize_session=False)))
            inbound_parts = changed(s.execute(delete(InboundPart).where(InboundPart.sender == number)))
            inbox_ids = select(InboxMessage.id).where(InboxMessage.sender == number).scalar_subquery()
            s.execute(update(InboundPart).where(InboundPart.inbox_id.in_(inbox_ids)).values(inbox_id=None))
            inbox = changed(s.execute(delete(InboxMessage).where(InboxMessage.sender == number)))
            reports = changed(s.execute(update(StatusReportRecord).where(StatusReportRecord.recipient == number)
                                .values(recipient="")))
            optouts = changed(s.execute(delete(Suppression).where(Suppression.number == number)))
            optouts += changed(s.execute(delete(ConsentEvent).where(ConsentEvent.number == number)))
            contact_ids = select(Contact.id).where(Contact.number == number).scalar_subquery()
            s.execute(delete(GroupMember).where(GroupMember.contact_id.in_(contact_ids)))
            contacts = changed(s.execute(delete(Contact).where(Contact.number == number)))
        return {"messages": messages, "parts": parts, "inbox": inbox, "inbound_parts": inbound_parts,
                "events": events, "status_reports": reports, "optouts": optouts, "contacts": contacts}


def _purge_messages(s: Session, *where: ColumnElement[bool]) -> int:
    """Empty the text of the settled messages matching `where`, of their parts and their events' payloads; how
    many messages were emptied."""
    empty_event_texts(s, select(Message.uid).where(Message.state.in_(SETTLED), *where))
    ids = select(Message.id).where(Message.state.in_(SETTLED), *where).scalar_subquery()
    s.execute(update(Part).where(Part.message_id.in_(ids)).values(text=""))
    return changed(s.execute(update(Message).where(Message.id.in_(ids)).values(body="", body_purged=True)
                     .execution_options(synchronize_session=False)))


def _settled_message(s: Session, uid: str, verb: str) -> Message:
    message = s.scalars(select(Message).where(Message.uid == uid)).one_or_none()
    if message is None:
        raise MessageNotFound(f"no message {uid}", field="id")
    if message.state not in SETTLED:
        raise ConflictError(f"message {uid} is {message.state.value}; only a settled message can be {verb}")
    return message

