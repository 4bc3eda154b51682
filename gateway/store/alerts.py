"""Alerts: raised and resolved once however many boxes watch (gateway/core/alerts.py decides when)."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from gateway.errors import AlertNotFound
from gateway.representations import alert_json
from gateway.store.database import Database, new_uid
from gateway.store.events import Events
from gateway.store.models import Alert, Message, Part
from gateway.values import MessageState, PartState

_ALERTS_LOCK = 0x736D73677722  # PostgreSQL advisory lock: one box at a time raises or resolves


class Alerts:
    def __init__(self, db: Database, events: Events) -> None:
        self._db, self._events = db, events

    def open_alerts(self) -> list[Alert]:
        with self._db.read() as s:
            return list(s.scalars(select(Alert).where(Alert.resolved_at.is_(None)).order_by(Alert.raised_at)))

    def recent(self, limit: int = 100) -> list[Alert]:
        with self._db.read() as s:
            return list(s.scalars(select(Alert).order_by(Alert.id.desc()).limit(limit)))

    def raise_alert(self, key: str, kind: str, subject: str, message: str, now: datetime,
                    notify: Sequence[str]) -> Alert | None:
        """Raise `key` unless it is raised already; the new alert (None when it was not raised now). A mute of
        the key's last alert still running carries over. `alert.raised` goes to webhooks and observers and, not
        muted, to each of `notify` (a URL, or `mailto:` an address)."""
        with self._db.write() as s:
            self._lock(s)
            last = s.scalars(select(Alert).where(Alert.key == key).order_by(Alert.id.desc()).limit(1)).one_or_none()
            if last is not None and last.resolved_at is None:
                return None
            muted = last.muted_until if last is not None and last.muted_until and last.muted_until > now else None
            alert = Alert(uid=new_uid("alert"), key=key, kind=kind, subject=subject, message=message, raised_at=now,
                          muted_until=muted)
            s.add(alert)
            s.flush()
            self._announce(s, alert, "alert.raised", now, notify)
        return alert

    def resolve(self, key: str, now: datetime, notify: Sequence[str]) -> Alert | None:
        """Resolve the open alert of `key`, if any (`alert.resolved`, as `raise_alert` says)."""
        with self._db.write() as s:
            self._lock(s)
            alert = s.scalars(select(Alert).where(Alert.key == key, Alert.resolved_at.is_(None))).one_or_none()
            if alert is None:
                return None
            alert.resolved_at = now
            self._announce(s, alert, "alert.resolved", now, notify)
        return alert

    def mute(self, uid: str, until: datetime) -> Alert:
        with self._db.write() as s:
            alert = s.scalars(select(Alert).where(Alert.uid == uid)).one_or_none()
            if alert is None:
                raise AlertNotFound(f"no alert {uid}", field="id")
            alert.muted_until = until
        return alert

    def delivery_reports(self, since: datetime, until: datetime) -> tuple[int, int]:
        """Of the parts sent in [since, until) that asked for a report: (delivered, reported), where a part whose
        report is overdue or says it failed counts as reported and not delivered."""
        asked = and_(Part.sent_at >= since, Part.sent_at < until, Message.delivery_report.is_(True))
        with self._db.read() as s:
            delivered = s.scalar(select(func.count()).select_from(Part).join(Message).where(
                asked, Part.state == PartState.DELIVERED)) or 0
            failed = s.scalar(select(func.count()).select_from(Part).join(Message).where(
                asked, Part.state == PartState.FAILED)) or 0
            overdue = s.scalar(select(func.count()).select_from(Part).join(Message).where(
                asked, Part.state == PartState.SENT, Message.report_overdue.is_(True),
                Message.state == MessageState.SENT)) or 0
        return delivered, delivered + failed + overdue

    def _announce(self, s: Session, alert: Alert, event_type: str, now: datetime, notify: Sequence[str]) -> None:
        data = alert_json(alert)
        self._events.emit(s.connection(), event_type, alert.uid, lambda: data, None, now)
        if alert.muted_until is None or alert.muted_until <= now:
            for target in notify:
                self._events.emit_to(s.connection(), event_type, alert.uid, data, target, now)

    def _lock(self, s: Session) -> None:
        if not self._db.is_sqlite:
            s.execute(select(func.pg_advisory_xact_lock(_ALERTS_LOCK)))
