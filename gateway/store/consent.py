"""Consent: the suppression list of opted-out numbers and the history of every change to it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.rules.keywords import OPT_IN, OPT_OUT, KeywordRules
from gateway.rules.numbers import takes_replies
from gateway.rules.text import segment
from gateway.store.database import Database
from gateway.store.models import ConsentEvent, InboxMessage, Suppression
from gateway.values import PRIORITIES, MessageDraft


class Consent:
    """Verbs on opt-outs. `keyword_rules` (from the settings) say which inbound texts are STOP and START;
    `apply_keyword` runs in the transaction that records the inbound message."""

    def __init__(self, db: Database, keyword_rules: KeywordRules = KeywordRules()) -> None:
        self._db, self.keyword_rules = db, keyword_rules

    def set_consent(self, number: str, action: str, source: str, now: datetime, detail: str | None = None) -> bool:
        """Record an opt-out or opt-in of `number`; False when it changed nothing (the history keeps it anyway)."""
        with self._db.write() as s:
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
        with self._db.read() as s:
            for start in range(0, len(numbers), 500):
                found.update(s.scalars(select(Suppression.number)
                                       .where(Suppression.number.in_(numbers[start:start + 500]))))
        return found

    def list_suppressions(self) -> list[Suppression]:
        with self._db.read() as s:
            return list(s.scalars(select(Suppression).order_by(Suppression.since, Suppression.number)))

    def consent_history(self, number: str | None = None) -> list[ConsentEvent]:
        query = select(ConsentEvent).order_by(ConsentEvent.id)
        if number is not None:
            query = query.where(ConsentEvent.number == number)
        with self._db.read() as s:
            return list(s.scalars(query))

    def apply_keyword(self, s: Session, inbox: InboxMessage) -> MessageDraft | None:
        """Inside the write that records `inbox`: an inbound STOP (or START) changes the sender's consent. Returns
        the confirmation to queue when a STOP changed it, a reply is configured and the sender can take one (a
        number, not an alphanumeric sender ID); it goes back through the modem the STOP came in on."""
        action = self.keyword_rules.action_of(inbox.text)
        if action is None:
            return None
        detail = f"keyword {inbox.text.strip()!r} on modem {inbox.modem}"
        changed = self._set_consent(s, inbox.sender, action, "sms", inbox.received_at, detail)
        reply = self.keyword_rules.optout_reply
        if action != OPT_OUT or not changed or not reply or not takes_replies(inbox.sender):
            return None
        segmentation = segment(reply)
        return MessageDraft(to_number=inbox.sender, body=reply, encoding=segmentation.encoding,
                            parts=segmentation.parts, delivery_report=False, priority=PRIORITIES["high"],
                            via_modem=inbox.modem, note="opt-out confirmation")
