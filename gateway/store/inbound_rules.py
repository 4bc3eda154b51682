"""Inbound rules and their runs (what gateway/core/inbound_rules.py decides is recorded here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import func, select, update

from gateway.errors import RuleNotFound
from gateway.store.contacts import join_group, leave_group
from gateway.store.database import Database, new_uid
from gateway.store.events import Events
from gateway.store.models import InboundRule, InboxMessage, RuleRun


class InboundRules:
    def __init__(self, db: Database, events: Events) -> None:
        self._db, self._events = db, events

    def list_rules(self) -> list[InboundRule]:
        with self._db.read() as s:
            return list(s.scalars(select(InboundRule).order_by(InboundRule.position, InboundRule.id)))

    def get_rule(self, uid: str) -> InboundRule:
        with self._db.read() as s:
            rule = s.scalars(select(InboundRule).where(InboundRule.uid == uid)).one_or_none()
        if rule is None:
            raise RuleNotFound(f"no rule {uid}", field="id")
        return rule

    def add_rule(self, values: dict[str, Any], position: int | None, now: datetime) -> InboundRule:
        """A new rule at `position` (0 first; None: last); the rules from there on move down one."""
        with self._db.write() as s:
            count = s.scalar(select(func.count()).select_from(InboundRule)) or 0
            at = count if position is None else max(0, min(position, count))
            s.execute(update(InboundRule).where(InboundRule.position >= at).values(position=InboundRule.position + 1))
            rule = InboundRule(uid=new_uid("rule"), position=at, created_at=now, updated_at=now, **values)
            s.add(rule)
        return rule

    def update_rule(self, uid: str, values: dict[str, Any], position: int | None, now: datetime) -> InboundRule:
        with self._db.write() as s:
            rule = s.scalars(select(InboundRule).where(InboundRule.uid == uid)).one_or_none()
            if rule is None:
                raise RuleNotFound(f"no rule {uid}", field="id")
            for name, value in values.items():
                setattr(rule, name, value)
            rule.updated_at = now
            if position is not None:
                others = [r for r in s.scalars(select(InboundRule).order_by(InboundRule.position, InboundRule.id))
                          if r.id != rule.id]
                others.insert(max(0, min(position, len(others))), rule)
                for index, each in enumerate(others):
                    each.position = index
        return rule

    def delete_rule(self, uid: str) -> None:
        with self._db.write() as s:
            rule = s.scalars(select(InboundRule).where(InboundRule.uid == uid)).one_or_none()
            if rule is None:
                raise RuleNotFound(f"no rule {uid}", field="id")
            s.delete(rule)
            s.execute(update(InboundRule).where(InboundRule.position > rule.position)
                      .values(position=InboundRule.position - 1))

    def replies_since(self, sender: str, since: datetime) -> int:
        """How many replies and forwards the rules sent because of SMS from `sender` since `since`."""
        with self._db.read() as s:
            return s.scalar(select(func.count()).select_from(RuleRun).where(
                RuleRun.sender == sender, RuleRun.replied.is_(True), RuleRun.at >= since)) or 0

    def record_run(self, rule: InboundRule, inbox_uid: str, sender: str, now: datetime, *, replied: bool,
                   outcome: str, resource: dict[str, Any], notify: Sequence[str], join: str | None = None,
                   leave: str | None = None) -> None:
        """Commit that `rule` matched the received SMS `inbox_uid` and what it does: its follow-up flag, the
        sender joining the contact group `join` and leaving `leave`, and a durable delivery of the SMS
        (`message.received`) to each of `notify` (a webhook URL, `mailto:` an address). The replies and forwards go
        out after this commit: at most once, even across a restart."""
        with self._db.write() as s:
            inbox = s.scalars(select(InboxMessage).where(InboxMessage.uid == inbox_uid)).one()
            if rule.follow_up:
                inbox.follow_up = True
            if join is not None:
                join_group(s, join, sender, now)
            if leave is not None:
                leave_group(s, leave, sender)
            s.add(RuleRun(rule_uid=rule.uid, inbox_id=inbox.id, sender=sender, at=now, replied=replied,
                          outcome=outcome))
            for target in notify:
                self._events.emit_to(s.connection(), "message.received", inbox_uid, resource, target, now)

    def list_runs(self, rule_uid: str, limit: int = 50) -> list[RuleRun]:
        with self._db.read() as s:
            return list(s.scalars(select(RuleRun).where(RuleRun.rule_uid == rule_uid)
                                  .order_by(RuleRun.id.desc()).limit(limit)))
