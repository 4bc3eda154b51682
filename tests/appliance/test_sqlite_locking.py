"""SQLite with several writers in several processes: "database is locked" never reaches a caller.

The running gateway takes API writes over real HTTP and sends through fake modems while other processes write
to the same database file: processes enqueueing through the store (what `smsgw send` and `smsgw keys create`
do beside a running box) and one holding the write lock for a while, as a backup or the sqlite3 shell does.
Every request is answered 202, every process finishes, every message is counted once. A lock held past the
busy timeout is a 503 `store_unavailable` that writes nothing, and the gateway goes on once it is released.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from gateway.appliance.runtime import open_store
from gateway.config import DatabaseSettings, settings_from_mapping
from gateway.errors import ConfigError
from tests.conftest import wait_until

WRITER = """
import sys
from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from gateway.store import Store

store = Store.from_url(sys.argv[1], busy_timeout_ms=int(sys.argv[3]))
service = GatewayService(store, MessagingSettings())
for n in range(int(sys.argv[2])):
    service.messages.send(f"+447912{sys.argv[4]}{n:05d}", f"from process {sys.argv[4]}, {n}")
store.close()
"""

LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
for _ in range(int(sys.argv[2])):
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE IF NOT EXISTS lock_probe (n INTEGER)")
    conn.execute("INSERT INTO lock_probe VALUES (1)")
    time.sleep(float(sys.argv[3]))
    conn.execute("COMMIT")
    time.sleep(0.2)
"""


def _db_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _count(path: str, sql: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchone()[0]


def test_writers_in_other_processes_never_surface_a_lock(gateway_factory, settings):
    gateway, fakes, token = gateway_factory(2)
    url, busy_ms = settings.database.url, settings.database.busy_timeout_ms
    processes, per_process = 3, 60
    others = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(per_process), str(busy_ms), str(k + 1)],
                               stderr=subprocess.PIPE, text=True) for k in range(processes)]
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, _db_path(url), "4", "0.5"],
                              stderr=subprocess.PIPE, text=True)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def post(n: int) -> int:
        return session.post(f"http://127.0.0.1:{gateway.port}/api/v1/messages",
                            json={"to": f"+4479900{n:05d}", "body": f"api {n}"}, timeout=30).status_code

    with ThreadPoolExecutor(4) as threads:
        statuses = list(threads.map(post, range(150)))
    for proc in [*others, holder]:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert statuses == [202] * 150
    total = 150 + processes * per_process
    assert _count(_db_path(url), "SELECT count(*) FROM messages") == total
    wait_until(lambda: sum(len(f.sent) for f in fakes) >= total, timeout_s=60)
    sent_to = [pdu_to for f in fakes for pdu_to in (s.number for s in f.sent)]
    assert len(sent_to) == len(set(sent_to)) == total  # every number once: nothing doubled, nothing lost


def test_a_lock_held_past_the_busy_timeout_is_a_clean_503(gateway_factory, settings):
    quick = settings.replace(database=DatabaseSettings(url=settings.database.url, busy_timeout_ms=300))
    gateway, _fakes, token = gateway_factory(1, settings_override=quick)
    path = _db_path(settings.database.url)
    headers = {"Authorization": f"Bearer {token}"}
    api = f"http://127.0.0.1:{gateway.port}/api/v1/messages"
    before = _count(path, "SELECT count(*) FROM messages")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(30)
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(10)
        started = time.monotonic()
        refused = requests.post(api, json={"to": "+447911123456", "body": "held"}, headers=headers, timeout=30)
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "store_unavailable"
    assert "Traceback" not in refused.text
    assert waited >= 0.25  # it waited for the lock (the busy timeout) before giving up
    assert _count(path, "SELECT count(*) FROM messages") == before
    accepted = requests.post(api, json={"to": "+447911123456", "body": "free"}, headers=headers, timeout=30)
    assert accepted.status_code == 202, accepted.text


def test_synchronous_full_is_on_every_connection_and_a_bad_value_is_refused(settings):
    durable = settings.replace(database=DatabaseSettings(url=settings.database.url, synchronous="full"))
    for chosen, level in ((settings, 1), (durable, 2)):  # NORMAL = 1, FULL = 2
        store = open_store(chosen)
        try:
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
        finally:
            store.close()
    with pytest.raises(ConfigError) as refused:
        settings_from_mapping({"database": {"synchronous": "off"}})
    assert refused.value.field == "database.synchronous"


def test_a_durable_write_is_fsynced_and_the_connection_goes_back_to_normal(store):
    def level(conn) -> int:
        return conn.connection.driver_connection.execute("PRAGMA synchronous").fetchone()[0]

    with store.db.write_core(durable=True) as conn:
        assert level(conn) == 2  # FULL: this commit is synced to disk before it returns
        connection = conn.connection.driver_connection
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again for other writes
    with store.db.write_core() as conn:
        assert level(conn) == 1
