"""Accountability and privacy: the audit log, body retention, redacting or deleting a message, erasing a number."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from gateway.config import MessagingSettings
from gateway.rules.numbers import to_e164
from gateway.rules.paging import cursor_id, next_cursor, page_size
from gateway.store import Store
from gateway.store.models import AuditEntry, Message

log = logging.getLogger(__name__)



class Privacy:
    """Verbs that record who did what, and that take texts and numbers out of the gateway."""

    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime]) -> None:
        self._store, self._settings, self._clock = store, settings, clock

    def audit(self, actor: str, action: str, *, target: str | None = None, remote_addr: str | None = None,
              detail: str | None = None) -> None:
        """Record an admin action: who (a key's name, "admin" for the status page, "cli"), what, where from."""
        self._store.audit.record_audit(actor, action, self._clock(), target=target, remote_addr=remote_addr,
                                      detail=detail)

    def list_audit(self, *, cursor: str | None = None, limit: int = 50) -> tuple[list[AuditEntry], str | None]:
        """Newest first, with the cursor of the next page (None at the end)."""
        entries = self._store.audit.list_audit(before_id=cursor_id(cursor), limit=page_size(limit))
        return entries, next_cursor(entries, limit)

    def redact(self, uid: str) -> Message:
        """Empty a settled message's text (ConflictError while it may still be sent)."""
        return self._store.privacy.redact_message(uid)

    def delete_message(self, uid: str) -> None:
        """Delete a settled message's record (ConflictError while it may still be sent)."""
        self._store.privacy.delete_message(uid)

    def purge_bodies(self) -> dict[str, int]:
        """Empty texts older than `messaging.body_retention_days` (0: keep them); the periodic job."""
        days = self._settings.body_retention_days
        if days <= 0:
            return {"messages": 0, "inbox": 0}
        return self._store.privacy.purge_bodies(self._clock() - timedelta(days=days))

    def erase_number(self, number: str) -> dict[str, int]:
        """Erase everything about `number` (a data subject's request); answers what was erased, counted."""
        return self._store.privacy.erase_number(to_e164(number, self._settings, field="number"))
