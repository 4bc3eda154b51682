"""Per-API-key request counts in fixed one-minute windows, kept in the database so a limit holds across
restarts, processes and boxes (flask-limiter has no SQL storage)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from gateway.store.base import StoreBase
from gateway.store.models import ApiRequestWindow

_windows = ApiRequestWindow.__table__
_COUNT = {
    name: dialect.insert(_windows).values(api_key_id=bindparam("p_key"), window_start=bindparam("p_window"), count=1)
    .on_conflict_do_update(index_elements=["api_key_id", "window_start"], set_={"count": _windows.c.count + 1})
    .returning(_windows.c.count)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
_FORGET = delete(_windows).where(_windows.c.window_start < bindparam("p_before"))


class RequestCountStore(StoreBase):
    """One atomic upsert per request: the count of `key_id`'s requests in the window including this one."""

    def count_request(self, key_id: int, window_start: datetime) -> int:
        with self._write_core() as conn:
            return conn.execute(_COUNT[conn.dialect.name], {"p_key": key_id, "p_window": window_start}).scalar_one()

    def forget_request_counts(self, before: datetime) -> int:
        """Drop the windows that ended (a periodic job)."""
        with self._write_core() as conn:
            return conn.execute(_FORGET, {"p_before": before - timedelta(minutes=1)}).rowcount
