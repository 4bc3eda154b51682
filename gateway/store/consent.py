"""Consent: the suppression list of opted-out numbers and the history of every change to it."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.rules.keywords import OPT_IN, OPT_OUT, KeywordRules
from gateway.rules.text import segment
from gateway.store.base import StoreBase, new_uid
from gateway.store.models import ConsentEvent, InboxMessage, Message, MessageEvent, Part, Suppression
from gateway.values import MessageState, PartState

HIGH_PRIORITY = 0


class ConsentStore(StoreBase):
    """Verbs on opt-outs. `keyword_rules` (set from the settings by the runtime) says which inbound texts
    are STOP and START; `_apply_keyword` runs in the transaction that records the inbound message."""

    keyword_rules: KeywordRules = KeywordRules()

    def set_consent(self, number: str, action: str, source: str, now: datetime, detail: str | None = None) -> bool:
        """Record an opt-out or opt-in of `number`; False when it changed nothing (the history keeps it anyway)."""
        with self._write() as s:
            return self._set_consent(s, number, action, source, now, detail)

    def _set_consent(self, s: Session, number: str, action: str, source: str, now: datetime,
                     detail: str | None) -> bool:
        current = s.get(Suppression, number, with_for_update=True)
        s.add(ConsentEvent(number=number, action=action, source=source, detail=detail, at=now))
        if action == OPT_OUT and current is None:
            try:
                with s.begin_nested():  # a concurrent opt-out of the same number may insert first
                    s.add(Suppression(number=number, source=source, since=now))
            except IntegrityError:
                return False
            return True
        if action == OPT_IN and current is not None:
            s.delete(current)
            return True
        return False

    def suppressed_among(self, numbers: list[str]) -> set[str]:
        """Which of `numbers` are on the suppression list."""
        found: set[str] = set()
        with self._read() as s:
            for start in range(0, len(numbers), 500):
                found.update(s.scalars(select(Suppression.number)
                                       .where(Suppression.number.in_(numbers[start:start + 500]))))
        return found

    def list_suppressions(self) -> list[Suppression]:
        with self._read() as s:
            return list(s.scalars(select(Suppression).order_by(Suppression.since, Suppression.number)))

    def consent_history(self, number: str | None = None) -> list[ConsentEvent]:
        query = select(ConsentEvent).order_by(ConsentEvent.id)
        if number is not None:
            query = query.where(ConsentEvent.number == number)
        with self._read() as s:
            return list(s.scalars(query))

    def _apply_keyword(self, s: Session, inbox: InboxMessage) -> None:
        """An inbound STOP (or START) changes the sender's consent in the inbox message's own transaction;
        a STOP is answered through the modem it came in on when a reply is configured."""
        action = self.keyword_rules.action_of(inbox.text)
        if action is None:
            return
        detail = f"keyword {inbox.text.strip()!r} on modem {inbox.modem}"
        changed = self._set_consent(s, inbox.sender, action, "sms", inbox.received_at, detail)
        if action == OPT_OUT and changed and self.keyword_rules.optout_reply:
            self._queue_reply(s, inbox.sender, self.keyword_rules.optout_reply, inbox.modem, inbox.received_at)

    def _queue_reply(self, s: Session, to: str, text: str, modem: str, now: datetime) -> None:
        segmentation = segment(text)
        message = Message(uid=new_uid("msg"), to_number=to, body=text, encoding=segmentation.encoding,
                          part_count=segmentation.part_count, concat_ref=secrets.randbelow(256),
                          state=MessageState.QUEUED, priority=HIGH_PRIORITY, delivery_report=False, attempts=0,
                          next_attempt_at=now, created_at=now, updated_at=now, pinned_modem=modem,
                          report_overdue=False)
        s.add(message)
        s.flush()
        s.add_all([Part(message_id=message.id, seq=seq, text=part, state=PartState.PENDING)
                   for seq, part in enumerate(segmentation.parts, start=1)])
        s.add(MessageEvent(message_id=message.id, state=MessageState.QUEUED.value, detail="opt-out confirmation",
                           at=now))
        self._notify_outbox(s.connection())
