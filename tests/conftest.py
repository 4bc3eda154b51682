"""Shared fixtures: a real SQLite file, the real service and Flask app, and whole gateways over fake modems."""

from __future__ import annotations

import fcntl
import shutil
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from gateway.appliance.runtime import open_store
from gateway.config import (DatabaseSettings, MessagingSettings, ModemSettings, PoolSettings, SecuritySettings,
                            ServerSettings, Settings, WebhookSettings)
from gateway.core.service import GatewayService
from gateway.rules.apikeys import SCOPES
from gateway.values import MessageDraft
from tests.receiver import LOOPBACK


def wait_until(predicate: Callable[[], object], timeout_s: float = 10.0, interval_s: float = 0.02):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout_s`. The pause between
    polls starts at `interval_s` and doubles up to 0.1 s: quick conditions are seen at once, and a long wait
    does not spend the CPU its neighbours on other workers need on polling."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)
        interval_s = min(2 * interval_s, max(interval_s, 0.1))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The default key file lies beside an SQLite file; PostgreSQL's is named (tmp_path/box.key)."""
    key_file = "" if database_url.startswith("sqlite") else str(tmp_path / "box.key")
    return Settings(
        server=ServerSettings(host="127.0.0.1", port=0, threads=4),
        database=DatabaseSettings(url=database_url),
        security=SecuritySettings(key_file=key_file),
        # no quiet hours: a marketing message is held through the recipient's night, and these run at any hour
        # of the wall clock (tests of quiet hours set their own window and clock)
        messaging=MessagingSettings(max_recipients=5, retry_base_s=0.2, retry_max_s=1.0, quiet_hours=""),
        pool=PoolSettings(send_timeout_s=5, command_timeout_s=2, sweep_interval_s=1.0, health_interval_s=5.0,
                          reconnect_min_s=0.2, reconnect_max_s=1.0),
        webhooks=WebhookSettings(allow=LOOPBACK),  # the tests' receivers are on loopback
    )


@pytest.fixture
def store(settings):
    store = open_store(settings)
    yield store
    store.close()


@pytest.fixture
def service(store, settings) -> GatewayService:
    return GatewayService(store, settings.messaging, webhook_settings=settings.webhooks)


@pytest.fixture
def app(settings, service):
    from web import create_app

    app = create_app(settings, service)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin_token(service) -> str:
    return service.keys.create_key("test-admin", list(SCOPES))[1]


@pytest.fixture
def auth(admin_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


SYSTEM_PATHS_LOCK = Path(tempfile.gettempdir()) / "smsgw-tests-system-paths.lock"


@contextmanager
def system_paths(*, exclusive: bool) -> Iterator[None]:
    """This machine's /etc/smsgw and /var/lib/smsgw, which the package test installs into (exclusive) and the CLI
    falls back to when given no config (shared: such a test waits until the package is purged again)."""
    with SYSTEM_PATHS_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


@pytest.fixture
def without_system_config():
    """For tests of the CLI with no config given: nothing the package test installs is there meanwhile."""
    with system_paths(exclusive=False):
        yield


@pytest.fixture
def modem_links(tmp_path):
    """Start fake modems; returns a factory `start(n, **fake_kwargs) -> [FakeModem]`, all stopped at teardown."""
    from fake_modem import FakeModem

    started = []

    def start(count: int = 1, **kwargs):
        fakes = [FakeModem(**{"link": str(tmp_path / f"modem{len(started) + i + 1}"), "seed": len(started) + i + 1,
                              **kwargs}).start() for i in range(count)]
        started.extend(fakes)
        return fakes

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def gateway_factory(settings, modem_links):
    """Start a whole gateway (pool + real HTTP server on a free port) over `n` fake modems."""
    from gateway.appliance.runtime import Gateway

    running = []

    def start(count: int = 2, *, settings_override: Settings | None = None, **fake_kwargs):
        fakes = modem_links(count, **fake_kwargs)
        base = settings_override or settings
        pin = fake_kwargs.get("pin") or ""  # a PIN-protected fake: the config gives the PIN
        gw_settings = base.replace(modems=tuple(
            ModemSettings(name=f"modem{i}", port=f.link, pin=pin) for i, f in enumerate(fakes, start=1)))
        gateway = Gateway(gw_settings).start()
        running.append(gateway)
        token = gateway.service.keys.create_key("e2e", list(SCOPES))[1]
        return gateway, fakes, token

    yield start
    for gateway in running:
        gateway.stop()


def queue_text(gateway, text: str, to: str = "+447911123456"):
    """Queue one single-part message on a running gateway and wake its modems; the message."""
    [message] = gateway.store.outbox.enqueue([MessageDraft(to_number=to, body=text, encoding="gsm7", parts=(text,),
                                                           delivery_report=False)], gateway.service.clock())
    gateway.pool.wake()
    return message


ADMIN_PASSWORD = "correct horse battery"


@pytest.fixture
def admin_password(store) -> str:
    """The status page's admin password, set in the test database."""
    from gateway.core.admin_auth import AdminAuth

    AdminAuth(store).set_password(ADMIN_PASSWORD)
    return ADMIN_PASSWORD


# --- databases: SQLite files and (several boxes) PostgreSQL databases, copied from a schema migrated once ---


def pytest_generate_tests(metafunc):
    """Tests marked `both_databases` (a module's `pytestmark`) run once on SQLite and once on PostgreSQL."""
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to the head revision once per session (per xdist worker): tests get a copy, so
    opening their store finds the schema current and runs no Alembic (tests/appliance/test_upgrade.py does)."""
    from gateway.store.database import make_engine
    from gateway.store.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "smsgw.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # the last connection's close checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists(), "the template must be one file to copy"
    return path


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL server of our own (Debian's binaries, a temp dir, a free port) for this session (each xdist
    worker has its own), stopped and deleted at the end."""
    from tests.pg import PostgresCluster, pg_available

    reason = pg_available()
    if reason:
        pytest.skip(reason)
    cluster = PostgresCluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """The test's database, with the schema: a copy of the migrated SQLite file in tmp_path, or (parametrized
    "postgresql") a fresh PostgreSQL database made from the cluster's migrated template."""
    if getattr(request, "param", "sqlite") == "sqlite":
        path = tmp_path / "smsgw.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database()
    request.addfinalizer(lambda: cluster.drop_database(url))
    return url


# --- compatibility doors: a receiver that records any request (GET dlr-urls, form posts, JSON) ------------


class RawReceiver:
    """A loopback HTTP server that records every request (method, path with query, headers, body). `answers`
    are (status, content type, body) answered in turn, then 200 with an empty body."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict] = []
        self.answers: list[tuple[int, str, bytes]] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                with receiver._cond:
                    receiver.requests.append({"method": self.command, "path": self.path,
                                              "headers": dict(self.headers), "body": body})
                    status, content_type, answer = receiver.answers.pop(0) if receiver.answers else (200, "", b"")
                    receiver._cond.notify_all()
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = _record  # noqa: N815 - http.server's names

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="raw-receiver", daemon=True).start()

    def wait_for(self, count: int, timeout_s: float = 15.0) -> list[dict]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.requests) >= count, timeout_s), self.requests
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def raw_receiver():
    receiver = RawReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def compat_gateway(gateway_factory, settings):
    """One gateway over one fake modem (quick webhook retries), online; returns (gateway, fakes, admin token).
    `config` replaces whole door sections of the settings (e.g. {"kannel": KannelSettings(...)})."""
    def start(count: int = 1, *, config: dict | None = None, **fake_kwargs):
        hook_settings = settings.replace(webhooks=WebhookSettings(retry_base_s=0.2, retry_max_s=0.5, timeout_s=2,
                                                                  horizon_s=3600, allow=LOOPBACK), doors=config or {})
        gateway, fakes, token = gateway_factory(count, settings_override=hook_settings, **fake_kwargs)
        wait_until(lambda: [m.state.value for m in gateway.service.modems.list_modems()] == ["online"] * count)
        return gateway, fakes, token

    return start


# --- gateways whose modems are configured one by one (groups, rate limits) --------------------------------

@pytest.fixture
def configured_gateway(settings, modem_links):
    """`start([{"group": "uk"}, {"max_per_minute": 1}], settings_override=None, **fake_kwargs)` starts a gateway
    over one fake modem per dict (extra ModemSettings fields) and returns (Api, fakes, gateway), modems online."""
    from gateway.appliance.runtime import Gateway
    from tests.api_client import Api

    running = []

    def start(modems: list[dict], *, settings_override: Settings | None = None, **fake_kwargs):
        fakes = modem_links(len(modems), **fake_kwargs)
        gw_settings = (settings_override or settings).replace(modems=tuple(
            ModemSettings(name=f"modem{i}", port=f.link, **extra)
            for i, (f, extra) in enumerate(zip(fakes, modems), start=1)))
        gateway = Gateway(gw_settings).start()
        running.append(gateway)
        api = Api(gateway, gateway.service.keys.create_key("e2e", list(SCOPES))[1])
        wait_until(lambda: len(api.modems()) == len(modems)
                   and all(m["state"] == "online" for m in api.modems().values()), timeout_s=30)
        return api, fakes, gateway

    yield start
    for gateway in running:
        gateway.stop()


# --- in parallel (`make test`: pytest-xdist, --dist worksteal) ---------------------------------------------

# the tests that take tens of seconds (child processes, fuzzing), longest first
LONG_TESTS = ("test_the_time_sensitive_tests_pass_ten_years_from_now",
              "test_schemathesis_finds_no_server_error_and_no_response_outside_the_document",
              "test_sigkill_under_load_loses_and_doubles_nothing",
              "test_keys_create_list_revoke",
              "test_two_gateway_processes_share_the_outbox_and_a_killed_box_loses_nothing",
              "test_smsgw_admin_password_command",
              "test_cli_creates_expiring_keys_and_rotates",
              "test_writers_in_other_processes_never_surface_a_lock",
              "test_cli_key_actions_are_audited",
              "test_operator_logs_in_sees_modems_and_sends_a_test_sms",
              # last of the heads: the demo's CLI tests (tests/appliance/test_demo.py) wait while it runs, and by
              # the time it starts most of them have run
              "test_the_package_installs_offline_upgrades_with_queued_messages_and_purges")


def pytest_collection_modifyitems(config, items):
    """On an xdist worker: worksteal hands each of the n workers an even slice of the collection, in order, and
    later steals from the slices' tails; the long tests go to the heads of the slices, dealt round, so that
    they start at once on every worker and none ends the run alone with one. (Every worker orders alike.)"""
    workers = getattr(config, "workerinput", {}).get("workercount")
    if not workers:
        return
    long = sorted((item for item in items if item.originalname in LONG_TESTS),
                  key=lambda item: LONG_TESTS.index(item.originalname))
    rest = [item for item in items if item.originalname not in LONG_TESTS]
    slices, left = [], len(items)
    for n in range(workers, 0, -1):  # worksteal's first split: len(pending) // nodes remaining
        slices.append(left // n)
        left -= slices[-1]
    heads = [long[i::workers] for i in range(workers)]
    ordered = []
    for size, head in zip(slices, heads):
        ordered += head + rest[:max(0, size - len(head))]
        del rest[:max(0, size - len(head))]
    items[:] = ordered + rest
