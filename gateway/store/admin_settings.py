"""Gateway-wide named values in `admin_settings` (the admin password hash, the session secret, the settings an
admin changed while the box runs: gateway/core/box_settings.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from gateway.store.database import Database, once_more_after_a_race
from gateway.store.models import AdminSetting


class AdminSettings:
    """Named values kept for the whole gateway."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> str | None:
        with self._db.read_core() as conn:
            return conn.execute(select(AdminSetting.value).where(AdminSetting.key == key)).scalar()

    def put(self, key: str, value: str, now: datetime) -> None:
        with self._db.write() as s:
            row = s.get(AdminSetting, key)
            if row is None:
                s.add(AdminSetting(key=key, value=value, updated_at=now))
            else:
                row.value, row.updated_at = value, now

    def remove(self, key: str) -> None:
        with self._db.write() as s:
            s.execute(delete(AdminSetting).where(AdminSetting.key == key))

    @once_more_after_a_race
    def add_if_absent(self, key: str, value: str, now: datetime) -> str:
        """Store `value` unless `key` already has one; return the value that is kept (race-safe across processes:
        one that another inserted meanwhile is read on the second run)."""
        with self._db.write() as s:
            row = s.get(AdminSetting, key)
            if row is not None:
                return row.value
            s.add(AdminSetting(key=key, value=value, updated_at=now))
            return value
