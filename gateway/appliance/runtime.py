"""The composition root: builds store, service, pool, web app and HTTP server from Settings."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

from sqlalchemy.engine import make_url

from gateway.appliance.doors import gateway_doors
from gateway.appliance.liveness import BoxLiveness
from gateway.appliance.mail_in import MailToSms
from gateway.appliance.mqtt import MQTT_EVENTS, MqttBridge
from gateway.appliance.periodic import build_scheduler, store_job
from gateway.appliance.server import HttpServer
from gateway.appliance.watchdog import Watchdog, notify, watchdog_interval_s
from gateway.clock import utcnow
from gateway.config import ModemSettings, PoolSettings, Settings, UpstreamSettings
from gateway.core.admin_auth import PASSWORD_ENV, apply_password_from_env
from gateway.core.alerts import AlertWatch
from gateway.core.canary import Canary
from gateway.core.mail import mailto_targets
from gateway.core.pool import ModemPool
from gateway.core.service import GatewayService
from gateway.core.webhooks import WebhookDispatcher
from gateway.core.worker import DriverFactory
from gateway.modem.discovery import Discoverer, split_patterns
from gateway.modem.atlog import AtLog
from gateway.modem.driver import ModemDriver, NoticeSink
from gateway.rules.keywords import KeywordRules
from gateway.store import Store
from gateway.store.migrate import upgrade
from gateway.store.notify import OutboxListener
from gateway.upstream.driver import ReceiptUrl, UpstreamDriver

log = logging.getLogger(__name__)


def build_panel(settings: Settings, pin_factory, on_shutdown: Callable[[], None]):
    """The LEDs, button and power switches, when the config names a pin; else None and gpiozero is never
    asked for a pin factory. `pin_factory`: gpiozero's MockFactory in tests, else the Pi's default."""
    if not settings.has_pins:
        return None
    from hardware import Panel

    if pin_factory is None:
        from gpiozero import Device

        pin_factory = Device._default_pin_factory()  # the real GPIO of this board (lgpio, RPi.GPIO, ...)
    return Panel(settings, pin_factory=pin_factory, on_shutdown=on_shutdown)


def gsmmodem_drivers(pool: PoolSettings) -> DriverFactory:
    """The production driver factory: python-gsmmodem-new over pyserial."""
    from gateway.modem.gsmmodem import GsmModemDriver

    def make(modem: ModemSettings, on_notice: NoticeSink, at_log: AtLog) -> ModemDriver:
        return GsmModemDriver(modem.port, baudrate=modem.baudrate, pin=modem.pin or None, on_notice=on_notice,
                              command_timeout_s=pool.command_timeout_s, flow_control=modem.flow_control,
                              at_log=at_log)

    return make


def with_upstreams(make_modem_driver: DriverFactory, upstreams: Sequence[UpstreamSettings],
                   receipt_url: ReceiptUrl) -> DriverFactory:
    """The pool's driver factory: an upstream's name gets its HTTP driver, any other a modem's."""
    by_name = {u.name: u for u in upstreams}

    def make(modem: ModemSettings, on_notice: NoticeSink, at_log: AtLog) -> ModemDriver:
        upstream = by_name.get(modem.name)
        if upstream is None:
            return make_modem_driver(modem, on_notice, at_log)
        return UpstreamDriver(upstream, receipt_url)

    return make


def default_box_name(settings: Settings, is_sqlite: bool) -> str:
    """The box's name when `[server] box` is empty: the hostname on SQLite (one box per database file); on
    PostgreSQL the hostname and the HTTP port, so two instances on one host (which cannot share a port) never
    take one name."""
    host = socket.gethostname()
    return host if is_sqlite else f"{host}-{settings.server.port}"


def data_dir(settings: Settings) -> Path | None:
    """Where the box keeps its data (its disk is watched): the SQLite file's directory, else the key file's."""
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent
    return Path(settings.security.key_file).resolve().parent if settings.security.key_file else None


def open_store(settings: Settings) -> Store:
    """Open the database, bring its schema up to date and check the box key opens it (then seal what is not
    sealed under it yet)."""
    database = settings.database
    store = Store.from_url(database.url, database.busy_timeout_ms, database.synchronous,
                           keyword_rules=KeywordRules.from_settings(settings.messaging),
                           key_file=settings.security.key_file)
    store.db.box = settings.server.box or default_box_name(settings, store.db.is_sqlite)
    try:
        upgrade(store.engine)
        sealed = store.seal(utcnow())
    except BaseException:
        store.close()
        raise
    if sealed:
        log.info("sealed %d stored values under box key %s", sealed, store.box_key.id)
    return store


class Gateway:
    """Everything `smsgw run` starts, in one object with start() and stop()."""

    def __init__(self, settings: Settings, *, make_driver: DriverFactory | None = None,
                 clock: Callable[[], datetime] = utcnow, pin_factory=None) -> None:
        from web import create_app

        self.settings = settings
        self.doors = gateway_doors()
        self._stop_requested = threading.Event()  # SIGTERM, SIGINT or the panel button held
        self.panel = build_panel(settings, pin_factory, self.request_stop)
        self.store = open_store(settings)
        drivers = with_upstreams(make_driver or gsmmodem_drivers(settings.pool), settings.upstreams,
                                 lambda name, uid: self.service.receipts.url(name, uid))
        self.pool = ModemPool(settings.modems, self.store, drivers, pool_settings=settings.pool,
                              messaging=settings.messaging, clock=clock,
                              power_for=self.panel.power_for if self.panel else None, upstreams=settings.upstreams)
        if self.panel is not None:
            self.pool.subscribe(self.panel.on_state)
            self.pool.subscribe_degraded(self.panel.on_degraded)
        self.discoverer = (Discoverer(self.pool, split_patterns(settings.pool.discover_paths),
                                      settings.pool.discover_interval_s, configured=[m.name for m in settings.modems])
                           if settings.pool.auto_discover else None)
        interval_s = watchdog_interval_s()
        self.watchdog = Watchdog(interval_s, self.health_problem) if interval_s else None
        self.service = GatewayService(self.store, settings.messaging, self.pool, clock=clock,
                                      webhook_settings=settings.webhooks, ussd_timeout_s=settings.pool.ussd_timeout_s,
                                      routes=settings.routes,
                                      modem_costs={m.name: m.cost for m in settings.modems}
                                      | {u.name: u.cost for u in settings.upstreams},
                                      can_mail=bool(settings.email.smtp_host and settings.email.sender),
                                      upstreams=settings.upstreams, routing=settings.routing)
        self.store.events.observe(["message.received"], self.service.inbound_rules.on_event)
        self.webhooks = WebhookDispatcher(self.store, settings.webhooks, clock, doors=self.doors,
                                          destinations=self.service.destinations, email=settings.email)
        self.store.db.on_deliveries_queued = self.webhooks.wake
        # the texts doors' receivers answer received SMS with
        self.webhooks.on_reply = self.service.messages.reply_to_inbound
        self.service.receivers.sync_config_receivers(self.doors.receivers(settings), self.doors.receiver_doors,
                                                     mailto_targets(settings.email))
        if apply_password_from_env(self.service.admin, os.environ):
            log.info("admin password set from $%s", PASSWORD_ENV)
        self.app = create_app(settings, self.service, self.doors)
        self.scheduler = build_scheduler(self.service, self.pool, settings.pool.lease_s)
        self.mqtt = MqttBridge(settings.mqtt, self.store.db.box, self.service) if settings.mqtt.url else None
        if self.mqtt is not None:
            self.store.events.observe(MQTT_EVENTS, self.mqtt.on_event)
            self.pool.subscribe(self.mqtt.on_modem_state)
            self.scheduler.add_job(self.mqtt.publish_modems, "interval", seconds=settings.mqtt.state_interval_s,
                                   id="mqtt-modems")
        self.mail_in = (MailToSms(settings.email.inbound, self.service, settings.server.allow_from)
                        if settings.email.inbound.listen else None)
        self.alerts = AlertWatch(self.store, settings.alerts, clock, self.service.messages, box=self.store.db.box,
                                 box_dead_after_s=settings.server.box_dead_after_s, data_dir=data_dir(settings),
                                 tls_cert=settings.server.tls_cert,
                                 can_mail=bool(settings.email.smtp_host and settings.email.sender),
                                 low_credit={m.name: m.low_credit for m in settings.modems})
        self.scheduler.add_job(store_job(self.alerts.check, "alerts"), "interval",
                               seconds=settings.alerts.check_interval_s, id="alerts")
        self.canary = Canary(self.store, settings.canary, clock, self.service.messages, box=self.store.db.box,
                             degrade=self.pool.set_degraded)
        if settings.canary.interval_s > 0:
            self.scheduler.add_job(store_job(self.canary.check, "canary"), "interval",
                                   seconds=settings.canary.interval_s, id="canary")
        self.scheduler.add_job(store_job(self.service.routing.refresh, "routing figures"), "interval",
                               seconds=settings.routing.refresh_s, id="routing-figures")
        self.liveness = BoxLiveness(self.store, self.pool, settings.server, clock)
        self.scheduler.add_job(store_job(self.liveness.beat, f"box {self.store.db.box}: heartbeat"), "interval",
                               seconds=settings.server.heartbeat_s, id="heartbeat")
        # several boxes on PostgreSQL: another box's enqueue wakes our pool (else the idle poll finds it)
        self.listener = (None if self.store.is_sqlite else
                         OutboxListener(settings.database.url, self.store.db.box, self.pool.wake))
        self.http: HttpServer | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return self.http.port if self.http else self.settings.server.port

    def start(self, *, serve_http: bool = True) -> "Gateway":
        self.liveness.register()  # BoxNameTaken before any modem or request is touched
        self.webhooks.start()
        self.pool.start()
        if self.mqtt is not None:
            self.mqtt.start()
        if self.mail_in is not None:
            self.mail_in.start()
        if self.listener is not None:
            self.listener.start()
        self.scheduler.start()
        if serve_http:
            server = self.settings.server
            http = HttpServer(self.app, server.host, server.port, server.threads, allow_from=server.allow_from,
                              max_per_address=server.max_connections_per_address,
                              header_timeout_s=server.header_timeout_s, tls_cert=server.tls_cert,
                              tls_key=server.tls_key)
            http.start()
            self.http = http
            log.info("API listening on %s://%s:%d/", "https" if server.is_tls else "http", server.host, http.port)
        if self.panel is not None:
            self.panel.start()
        if self.discoverer is not None:
            self.discoverer.start()
        notify("READY=1")
        if self.watchdog is not None:
            self.watchdog.start()
        return self

    def request_stop(self) -> None:
        """Ask `run_until_signalled` to stop the gateway (any thread; the panel button's long press)."""
        self._stop_requested.set()

    def health_problem(self) -> str | None:
        """What keeps the watchdog from pinging systemd: a modem worker stuck in one operation (its thread
        blocked past `pool.stuck_after_s`). None when the process's own loops are healthy."""
        stuck = self.pool.stuck_workers(self.settings.pool.stuck_after_s)
        if stuck:
            return f"modem worker(s) stuck for over {self.settings.pool.stuck_after_s:g} s: {', '.join(stuck)}"
        return None

    def stop(self) -> None:
        """Reverse of start: jobs, then requests, then workers (each finishes its message), then the store.

        Every step runs even when an earlier one fails (logged): a failing HTTP close must not leave modem
        workers running."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        notify("STOPPING=1")
        steps = [
            self.watchdog.stop if self.watchdog is not None else None,
            self.discoverer.stop if self.discoverer is not None else None,
            (lambda: self.scheduler.shutdown(wait=True)) if self.scheduler.running else None,
            self.http.stop if self.http is not None else None,
            self.mail_in.stop if self.mail_in is not None else None,
            self.listener.stop if self.listener is not None else None,
            self.pool.stop,
            self.webhooks.stop,
            self.mqtt.stop if self.mqtt is not None else None,  # after the pool: its modems' offline goes out
            self.liveness.stopped,
            self.store.close,
            self.panel.stop if self.panel is not None else None,
        ]
        for step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception:  # the composition root owns the stop: log it and go on with the rest
                log.exception("stopping the gateway: a step failed")

    def __enter__(self) -> "Gateway":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT ask for a clean stop from now on (main thread only: the process's own start)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop_requested.set())

    def run_until_signalled(self) -> None:
        """Block until SIGTERM or SIGINT, then stop cleanly."""
        self.handle_signals()
        self._stop_requested.wait()
        log.info("stopping")
        self.stop()
