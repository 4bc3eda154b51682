"""The database every area of the store works on: the engine, its connection settings and the transactions.

Write transactions go through `write()`/`write_core()`: on SQLite one in-process writer at a time and
`BEGIN IMMEDIATE` (so "database is locked" cannot come from a read-to-write upgrade), on PostgreSQL plain
transactions with `FOR UPDATE SKIP LOCKED` claims.
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator, ParamSpec, TypeVar, cast

from sqlalchemy import bindparam, create_engine, event, func, select
from sqlalchemy.engine import Connection, CursorResult, Engine, Result
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import StoreFull, StoreUnavailable

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "smsgw_outbox"
_NOTIFY = select(func.pg_notify(OUTBOX_CHANNEL, bindparam("p_box")))


def changed(result: Result[Any]) -> int:
    """How many rows the UPDATE or DELETE that gave `result` changed."""
    return cast(CursorResult[Any], result).rowcount


def new_uid(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


_P = ParamSpec("_P")
_T = TypeVar("_T")


def once_more_after_a_race(write: Callable[_P, _T]) -> Callable[_P, _T]:
    """`write` (a verb that checks, then inserts), run once more when a concurrent writer broke its unique or
    foreign keys between its checks and its insert (PostgreSQL: SQLite's writers take turns). The second run
    reads that writer's rows, so it refuses as the checks do (a name taken, a group gone) or goes on from them
    (an import): never a 500."""

    @functools.wraps(write)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return write(*args, **kwargs)
        except IntegrityError:
            return write(*args, **kwargs)

    return run


SQLITE_CACHE_KIB = 512  # per connection; SQLite's default of 2 MB grew RSS by ~15 MB in a soak for no speed


_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}


def _sqlite_pragmas(busy_timeout_ms: int, synchronous: str) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={_SYNCHRONOUS[synchronous]}")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.close()

    return on_connect


def _sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("smsgw_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, busy_timeout_ms: int = 5000, synchronous: str = "normal") -> Engine:
    """An engine with the gateway's connection settings (WAL, `synchronous`, busy timeout, explicit BEGIN on
    SQLite)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000})
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms, synchronous))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10)
    _ping_after_idle(engine)
    return engine


PING_AFTER_IDLE_S = 1.0  # a pooled PostgreSQL connection unused this long is pinged before it is handed out


def _ping_after_idle(engine: Engine) -> None:
    """Hand out no dead connection (after a PostgreSQL restart or failover) without a ping before every
    transaction, which was a round trip in a busy modem's one commit a message: a connection back in the pool for less
    than PING_AFTER_IDLE_S was working a moment ago. One that died within that moment fails its statement once
    (StoreUnavailable), and that disconnect makes the pool drop every connection it holds."""

    @event.listens_for(engine, "checkin")
    def idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_from", 0.0) < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure: the pool connects anew (and retries the checkout)
            raise DisconnectionError(f"a pooled connection did not answer its ping: {exc}") from exc

@contextmanager
def _synchronous_full(conn: Connection) -> Iterator[None]:
    """SQLite's `synchronous=FULL` on this connection for one transaction (set outside it, then restored)."""
    raw: Any = conn.connection.driver_connection
    level = raw.execute("PRAGMA synchronous").fetchone()[0]
    raw.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA synchronous={int(level)}")


@contextmanager
def translated_errors() -> Iterator[None]:
    """The database failing (gone, locked past the busy timeout, disk full) becomes StoreUnavailable/StoreFull:
    a 503 with a clear code for API callers, a logged retry for workers. Nothing was committed."""
    try:
        yield
    except OperationalError as exc:
        detail = str(exc.orig) if exc.orig is not None else str(exc)
        if "full" in detail.lower():
            raise StoreFull(f"the database has no space left: {detail}") from exc
        raise StoreUnavailable(f"the database does not answer: {detail}") from exc


class Database:
    """The engine, the sessions and the transactions every area of the store uses (one per store, shared).

    `box` is this gateway box's name (set by the runtime): recorded on its modems, sent with NOTIFY.
    `on_deliveries_queued` is called once a write that queued webhook deliveries has committed (the webhook
    worker's wake)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_engine = engine.execution_options(smsgw_write=True)
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False)
        self._write_lock = threading.Lock() if self.is_sqlite else nullcontext()
        self._queued = threading.local()  # `callbacks`: what runs once this thread's open write commits
        self.on_deliveries_queued: Callable[[], None] = lambda: None
        self.box = ""

    def close(self) -> None:
        self.engine.dispose()

    def notify_outbox(self, conn: Connection) -> None:
        """Several boxes on PostgreSQL: tell the others, at commit, that the outbox has work (LISTEN in
        gateway/store/notify.py). The payload is our box, so that a box can ignore its own notices."""
        if not self.is_sqlite:
            conn.execute(_NOTIFY, {"p_box": self.box})

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Inside a write: run `callback` on this thread once the write has committed (never when it rolls back),
        once however often it is asked for. A callback's exception is logged, not raised: the commit stands."""
        if callback not in self._queued.callbacks:
            self._queued.callbacks.append(callback)

    def mark_deliveries_queued(self) -> None:
        """Inside a write: it queued webhook deliveries, so the worker is woken once it commits."""
        self.after_commit(self._deliveries_queued)

    def _deliveries_queued(self) -> None:
        self.on_deliveries_queued()  # looked up at commit: the runtime sets it after the store is built

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction in a Session. Its connection is taken from the pool before the (SQLite) write lock:
        a writer never holds the lock while it waits for a connection, which readers may all be holding."""
        self._queued.callbacks = []
        with translated_errors(), self._write_engine.connect() as conn, self._write_lock, \
                self._writes(bind=conn) as session, session.begin():
            yield session
        self._after_commit()

    @contextmanager
    def write_core(self, durable: bool = False) -> Iterator[Connection]:
        """A write transaction on a bare connection: the hot path's Core statements need no Session.

        `durable`: on SQLite, fsync this commit whatever `synchronous` says, so that a power cut cannot undo
        it (the commit before a PDU goes to the modem: undone, the part would be sent again)."""
        self._queued.callbacks = []
        with translated_errors(), self._write_engine.connect() as conn, self._write_lock:  # as `write` says
            with _synchronous_full(conn) if durable and self.is_sqlite else nullcontext(), conn.begin():
                yield conn
        self._after_commit()

    def _after_commit(self) -> None:
        callbacks, self._queued.callbacks = self._queued.callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # an observer's failure must not look like the write's
                log.exception("a callback after a committed write failed")

    @contextmanager
    def read_core(self) -> Iterator[Connection]:
        with translated_errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Session]:
        with translated_errors(), self._reads.begin() as session:
            yield session

    def ping(self) -> None:
        with self.read() as s:
            s.execute(select(1))
