"""The audit log: who did which admin action, when, from where."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from gateway.store.database import Database
from gateway.store.models import AuditEntry


class AuditLog:
    """The audit log of admin actions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record_audit(self, actor: str, action: str, now: datetime, *, target: str | None = None,
                     remote_addr: str | None = None, detail: str | None = None) -> None:
        with self._db.write() as s:
            s.add(AuditEntry(at=now, actor=actor[:64], action=action[:32],
                             target=None if target is None else str(target)[:128],
                             remote_addr=None if remote_addr is None else remote_addr[:64], detail=detail))

    def list_audit(self, *, before_id: int | None = None, limit: int = 50) -> list[AuditEntry]:
        """Newest first; `before_id` is the cursor."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        with self._db.read() as s:
            return list(s.scalars(query))
