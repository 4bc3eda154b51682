"""Two writers at once, in tests: wait until one waits for the other."""

from __future__ import annotations

import time

from sqlalchemy import text


def until_someone_waits_on_a_lock(store, timeout_s: float = 10) -> None:
    """Return once a backend of the store's PostgreSQL database waits on a lock (another writer's transaction
    holds what it needs); on SQLite, whose writers take turns on one lock, after a moment."""
    if store.db.is_sqlite:
        time.sleep(0.3)
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            if conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND datname = current_database()")):
                return
        time.sleep(0.02)
