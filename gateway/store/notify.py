"""Waking other boxes: several gateways on one PostgreSQL database.

Whatever puts work in the outbox (an enqueue, a retry, a released claim) also sends `NOTIFY smsgw_outbox`
in its transaction (`StoreBase._notify_outbox`), so PostgreSQL delivers it at commit. Each box runs one
OutboxListener: a thread with its own connection that LISTENs and wakes the box's pool. A notice from our
own box is ignored (its pool was woken in-process already). If the connection drops, the listener
reconnects with backoff; meanwhile the workers' idle poll (`pool.idle_poll_s`) still finds the work.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from sqlalchemy.engine import make_url

from gateway.store.database import OUTBOX_CHANNEL

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
STOP_CHECK_S = 0.5  # how often a quiet listener looks at its stop event


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy `postgresql+psycopg://` URL, several hosts included: SQLAlchemy
    takes `?host=a:5432&host=b:5432&target_session_attrs=read-write` (a failover pair), libpq wants
    `host=a,b port=5432,5432`."""
    from psycopg.conninfo import make_conninfo

    parsed = make_url(url)
    hosts = parsed.query.get("host")
    if not isinstance(hosts, tuple):
        return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    default_port = str(parsed.port or 5432)
    pairs = [host.rpartition(":")[::2] if ":" in host else (host, default_port) for host in hosts]
    others = {key: value for key, value in parsed.query.items() if key != "host" and isinstance(value, str)}
    return make_conninfo(host=",".join(h for h, _ in pairs), port=",".join(p for _, p in pairs),
                         dbname=parsed.database, user=parsed.username, password=parsed.password, **others)


class OutboxListener:
    """LISTEN smsgw_outbox on a dedicated connection; call `on_work()` for each other box's notice."""

    def __init__(self, url: str, box: str, on_work: Callable[[], None]) -> None:
        self._conninfo = conninfo(url)
        self._box = box
        self._on_work = on_work
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-listener", daemon=True)

    def start(self) -> "OutboxListener":
        self._thread.start()
        return self

    def wait_listening(self, timeout_s: float) -> bool:
        """True once the LISTEN is in place (for tests and start-up)."""
        return self._listening.wait(timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def __enter__(self) -> "OutboxListener":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        delay_s = RECONNECT_MIN_S
        while not self._stop.is_set():
            try:
                self._listen()
                delay_s = RECONNECT_MIN_S
            except Exception as exc:  # the database went away: the idle poll covers the gap
                log.warning("outbox listener: %s; reconnecting in %.1f s", exc, delay_s)
            self._listening.clear()
            if self._stop.wait(delay_s):
                break
            delay_s = min(delay_s * 2, RECONNECT_MAX_S)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
            self._listening.set()
            self._on_work()  # anything queued while we were not listening
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=STOP_CHECK_S):
                    if notice.payload != self._box:
                        self._on_work()
