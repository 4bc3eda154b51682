"""Rate limits' records in the database, so limits hold across restarts, processes and boxes: per-API-key request
counts in fixed one-minute windows (flask-limiter has no SQL storage), and the parts a modem sent lately (its
SIM plan's budget, read from the message history)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from gateway.store.database import Database, changed
from gateway.store.models import ApiRequestWindow, MessageEvent, table
from gateway.values import PartState

_windows = table(ApiRequestWindow)
_COUNT = {
    name: dialect.insert(_windows).values(api_key_id=bindparam("p_key"), window_start=bindparam("p_window"), count=1)
    .on_conflict_do_update(index_elements=["api_key_id", "window_start"], set_={"count": _windows.c.count + 1})
    .returning(_windows.c.count)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
_FORGET = delete(_windows).where(_windows.c.window_start < bindparam("p_before"))
_events = table(MessageEvent)
_PARTS_SENT = select(_events.c.at).where(  # ix_message_events_at: the last hour only
    _events.c.at > bindparam("p_since"), _events.c.modem == bindparam("p_modem"), _events.c.part_seq.is_not(None),
    _events.c.state == PartState.SENT.value).order_by(_events.c.at)


class RequestCounts:
    """Verbs on rate-limit records."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def count_request(self, key_id: int, window_start: datetime) -> int:
        """One atomic upsert per request: the count of `key_id`'s requests in the window including this one."""
        with self._db.write_core() as conn:
            return conn.execute(_COUNT[conn.dialect.name], {"p_key": key_id, "p_window": window_start}).scalar_one()

    def parts_sent_since(self, modem: str, since: datetime) -> list[datetime]:
        """When each part `modem` sent after `since` went, oldest first."""
        with self._db.read_core() as conn:
            return list(conn.execute(_PARTS_SENT, {"p_modem": modem, "p_since": since}).scalars())

    def forget_request_counts(self, before: datetime) -> int:
        """Drop the windows that ended (a periodic job)."""
        with self._db.write_core() as conn:
            return changed(conn.execute(_FORGET, {"p_before": before - timedelta(minutes=1)}))
