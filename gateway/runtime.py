"""The composition root: builds store, service, pool, web app and HTTP server from Settings."""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import datetime
from typing import Callable

from gateway.admin import PASSWORD_ENV, AdminAuth, apply_password_from_env
from gateway.config import ModemSettings, PoolSettings, Settings
from gateway.http import HttpServer
from gateway.jobs import build_scheduler
from gateway.webhooks import WebhookDispatcher
from gateway.modem.driver import ModemDriver, NoticeSink
from gateway.pool import DriverFactory, ModemPool
from gateway.service import GatewayService, utcnow
from gateway.store import Store
from gateway.store.migrate import upgrade

log = logging.getLogger(__name__)


def gsmmodem_drivers(pool: PoolSettings) -> DriverFactory:
    """The production driver factory: python-gsmmodem-new over pyserial."""
    from gateway.modem.gsmmodem import GsmModemDriver

    def make(modem: ModemSettings, on_notice: NoticeSink) -> ModemDriver:
        return GsmModemDriver(modem.port, baudrate=modem.baudrate, pin=modem.pin or None, on_notice=on_notice,
                              command_timeout_s=pool.command_timeout_s, flow_control=modem.flow_control)

    return make


def open_store(settings: Settings) -> Store:
    """Open the database and bring its schema up to date."""
    store = Store.from_url(settings.database.url, settings.database.busy_timeout_ms)
    upgrade(store.engine)
    return store


class Gateway:
    """Everything `smsgw run` starts, in one object with start() and stop()."""

    def __init__(self, settings: Settings, *, make_driver: DriverFactory | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        from web import create_app

        self.settings = settings
        self.store = open_store(settings)
        self.pool = ModemPool(settings.modems, self.store, make_driver or gsmmodem_drivers(settings.pool),
                              pool_settings=settings.pool, messaging=settings.messaging, clock=clock)
        self.service = GatewayService(self.store, settings.messaging, self.pool, clock=clock,
                                      webhook_settings=settings.webhooks)
        self.webhooks = WebhookDispatcher(self.store, settings.webhooks, clock)
        self.store.on_deliveries_queued = self.webhooks.wake
        if apply_password_from_env(AdminAuth(self.store, clock), os.environ):
            log.info("admin password set from $%s", PASSWORD_ENV)
        self.app = create_app(settings, self.service)
        self.scheduler = build_scheduler(self.service)
        self.http: HttpServer | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return self.http.port if self.http else self.settings.server.port

    def start(self, *, serve_http: bool = True) -> "Gateway":
        self.webhooks.start()
        self.pool.start()
        self.scheduler.start()
        if serve_http:
            server = self.settings.server
            self.http = HttpServer(self.app, server.host, server.port, server.threads)
            self.http.start()
            log.info("API listening on http://%s:%d/", server.host, self.http.port)
        return self

    def stop(self) -> None:
        """Reverse of start: jobs, then requests, then workers (each finishes its message), then the store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.http is not None:
            self.http.stop()
        self.pool.stop()
        self.webhooks.stop()
        self.store.close()

    def __enter__(self) -> "Gateway":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def run_until_signalled(self) -> None:
        """Block until SIGTERM or SIGINT, then stop cleanly."""
        wanted = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: wanted.set())
        wanted.wait()
        log.info("stopping")
        self.stop()
