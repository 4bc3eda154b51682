"""Gateway-wide named values in `admin_settings` (the admin password hash, the session secret)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.store.models import AdminSetting


def get_setting(store, key: str) -> str | None:
    with store._read_core() as conn:
        return conn.execute(select(AdminSetting.value).where(AdminSetting.key == key)).scalar()


def put_setting(store, key: str, value: str, now: datetime) -> None:
    with store._write() as s:
        row = s.get(AdminSetting, key)
        if row is None:
            s.add(AdminSetting(key=key, value=value, updated_at=now))
        else:
            row.value, row.updated_at = value, now


def add_setting_if_absent(store, key: str, value: str, now: datetime) -> str:
    """Store `value` unless `key` already has one; return the value that is kept (race-safe across processes)."""
    try:
        with store._write() as s:
            row = s.get(AdminSetting, key)
            if row is not None:
                return row.value
            s.add(AdminSetting(key=key, value=value, updated_at=now))
            return value
    except IntegrityError:  # another process inserted it between our read and our insert
        kept = get_setting(store, key)
        if kept is None:
            raise
        return kept
