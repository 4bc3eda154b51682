"""Shared fixtures: a real SQLite file, the real service and Flask app, and whole gateways over fake modems."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pytest

from gateway.config import MessagingSettings, ModemSettings, PoolSettings, ServerSettings, Settings, DatabaseSettings
from gateway.keys import SCOPES
from gateway.runtime import open_store
from gateway.service import GatewayService


def wait_until(predicate: Callable[[], object], timeout_s: float = 10.0, interval_s: float = 0.02):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        server=ServerSettings(host="127.0.0.1", port=0, threads=4),
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'smsgw.db'}"),
        messaging=MessagingSettings(max_recipients=5, retry_base_s=0.2, retry_max_s=1.0),
        pool=PoolSettings(send_timeout_s=5, command_timeout_s=2, sweep_interval_s=1.0, health_interval_s=5.0,
                          reconnect_min_s=0.2, reconnect_max_s=1.0),
    )


@pytest.fixture
def store(settings):
    store = open_store(settings)
    yield store
    store.close()


@pytest.fixture
def service(store, settings) -> GatewayService:
    return GatewayService(store, settings.messaging)


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
    return service.create_key("test-admin", list(SCOPES))[1]


@pytest.fixture
def auth(admin_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def modem_links(tmp_path):
    """Start fake modems; returns a factory `start(n, **fake_kwargs) -> [FakeModem]`, all stopped at teardown."""
    from fake_modem import FakeModem

    started = []

    def start(count: int = 1, **kwargs):
        fakes = [FakeModem(link=str(tmp_path / f"modem{len(started) + i + 1}"), seed=len(started) + i + 1,
                           **kwargs).start() for i in range(count)]
        started.extend(fakes)
        return fakes

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def gateway_factory(settings, modem_links):
    """Start a whole gateway (pool + real HTTP server on a free port) over `n` fake modems."""
    from gateway.runtime import Gateway

    running = []

    def start(count: int = 2, *, settings_override: Settings | None = None, **fake_kwargs):
        fakes = modem_links(count, **fake_kwargs)
        base = settings_override or settings
        gw_settings = base.replace(modems=tuple(
            ModemSettings(name=f"modem{i}", port=f.link) for i, f in enumerate(fakes, start=1)))
        gateway = Gateway(gw_settings).start()
        running.append(gateway)
        token = gateway.service.create_key("e2e", list(SCOPES))[1]
        return gateway, fakes, token

    yield start
    for gateway in running:
        gateway.stop()


ADMIN_PASSWORD = "correct horse battery"


@pytest.fixture
def admin_password(store) -> str:
    """The status page's admin password, set in the test database."""
    from gateway.admin import AdminAuth

    AdminAuth(store).set_password(ADMIN_PASSWORD)
    return ADMIN_PASSWORD
