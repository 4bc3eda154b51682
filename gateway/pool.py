"""The modem pool: one ModemWorker thread per modem, which alone owns that modem's driver.

Dispatch is event-driven: `ModemPool.wake()` (called after the API commits) sets every worker's wake
event; an idle worker claims the next message at once. Workers also wake for their own timers (storage
sweep, health poll, the next retry that falls due) and for modem notices (+CMTI, +CDS).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from datetime import datetime, timedelta
from typing import Callable, Sequence

from gateway.config import MessagingSettings, ModemSettings, PoolSettings
from gateway.errors import (
    ModemError,
    ModemUnavailable,
    PermanentSendError,
    SendOutcomeUnknown,
    SimPinRequired,
    TemporarySendError,
)
from gateway.modem.driver import ModemDriver, Notice, NoticeSink, ReceivedSms, StatusReport
from gateway.retry import next_attempt_at
from gateway.sms import Segmentation, build_submit_pdus
from gateway.store.models import ModemState
from gateway.store.queries import SendJob, Store

log = logging.getLogger(__name__)

DriverFactory = Callable[[ModemSettings, NoticeSink], ModemDriver]
MIN_WAIT_S = 0.01


class ModemWorker:
    """Owns one modem: connects, sends claimed messages part by part, sweeps storage, polls health,
    and reconnects with backoff when the modem fails or vanishes."""

    def __init__(self, modem: ModemSettings, store: Store, make_driver: DriverFactory, *,
                 pool_settings: PoolSettings, messaging: MessagingSettings,
                 wake_others: Callable[[], None], clock: Callable[[], datetime],
                 rng: random.Random | None = None) -> None:
        self.modem = modem
        self.name = modem.name
        self._store = store
        self._make_driver = make_driver
        self._pool = pool_settings
        self._messaging = messaging
        self._wake_others = wake_others
        self._clock = clock
        self._rng = rng or random.Random()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reset = threading.Event()
        self._notices: queue.SimpleQueue[Notice] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"modem-{self.name}", daemon=True)
        self._driver: ModemDriver | None = None
        self.state = ModemState.CONNECTING

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the worker to stop after the message in hand (it never abandons a part mid-exchange)."""
        self._stop.set()
        self._wake.set()

    def join(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)

    def wake(self) -> None:
        self._wake.set()

    def reset(self) -> None:
        """Ask the worker to close and reopen its modem (after the message in hand)."""
        self._reset.set()
        self._wake.set()

    def _on_notice(self, notice: Notice) -> None:
        """Called on the driver's threads: hand the value over, never touch the port."""
        self._notices.put(notice)
        self._wake.set()

    # --- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        delay_s = self._pool.reconnect_min_s
        while not self._stop.is_set():
            try:
                self._connect()
                delay_s = self._pool.reconnect_min_s
                self._serve()
            except SimPinRequired as exc:
                self._set_state(ModemState.PIN_NEEDED, last_error=str(exc))
                delay_s = self._pool.reconnect_max_s
            except ModemError as exc:
                log.warning("modem %s unavailable: %s", self.name, exc)
                self._set_state(ModemState.OFFLINE, last_error=str(exc))
            except Exception as exc:  # the worker must survive anything and hand its work back
                log.exception("modem %s worker error", self.name)
                self._set_state(ModemState.OFFLINE, last_error=f"internal error: {exc!r}")
            finally:
                self._disconnect()
            if self._stop.wait(delay_s):
                break
            delay_s = min(delay_s * 2, self._pool.reconnect_max_s)
        self._set_state(ModemState.OFFLINE, last_error="stopped")

    def _connect(self) -> None:
        self._set_state(ModemState.CONNECTING)
        self._driver = self._make_driver(self.modem, self._on_notice)
        info = self._driver.open()
        self._store.save_modem(self.name, self.modem.port, self._clock(), manufacturer=info.manufacturer,
                               model=info.model, imei=info.imei, last_error=None)
        log.info("modem %s online: %s %s IMEI %s", self.name, info.manufacturer, info.model, info.imei)

    def _disconnect(self) -> None:
        if self._driver is not None:
            try:
                self._driver.close()
            except Exception:
                log.exception("modem %s close failed", self.name)
            self._driver = None
        requeued, _ = self._store.release_claims(self._clock(), modem=self.name)
        if requeued:
            self._wake_others()

    def _serve(self) -> None:
        driver = self._driver
        next_health = next_sweep = self._clock()
        while not self._stop.is_set():
            if not driver.is_alive():
                raise ModemUnavailable("the modem's port or reader died")
            if self._reset.is_set():
                self._reset.clear()
                raise ModemUnavailable("reset by the operator")
            now = self._clock()
            if self._drain_notices() or now >= next_sweep:
                self._sweep()
                next_sweep = now + timedelta(seconds=self._pool.sweep_interval_s)
            if now >= next_health:
                self._poll_health()
                next_health = now + timedelta(seconds=self._pool.health_interval_s)
            self._wake.clear()
            if self.state == ModemState.ONLINE:
                job = self._store.claim_next(self.name, now, self._pool.lease_s)
                if job is not None:
                    self._send(job)
                    continue
            deadlines = [next_sweep, next_health, now + timedelta(seconds=self._pool.idle_poll_s)]
            due = self._store.next_due_at(self.name) if self.state == ModemState.ONLINE else None
            if due is not None:
                deadlines.append(due)
            self._wake.wait(max(MIN_WAIT_S, (min(deadlines) - self._clock()).total_seconds()))

    # --- sending -------------------------------------------------------------------------------

    def _send(self, job: SendJob) -> None:
        pdus = build_submit_pdus(job.to_number, Segmentation(job.encoding, job.parts), concat_ref=job.concat_ref,
                                 request_status_report=job.delivery_report)
        for seq in range(job.first_seq, len(pdus) + 1):
            self._store.mark_part_submitting(job, seq, self.name, self._clock())
            try:
                receipt = self._driver.send_pdu(pdus[seq - 1], self._pool.send_timeout_s)
            except SendOutcomeUnknown as exc:
                self._store.record_unknown(job, seq, self.name, str(exc), self._clock())
                raise
            except ModemUnavailable as exc:
                self._retry_later(job, seq, exc.code, str(exc), now_too=True)
                raise
            except TemporarySendError as exc:
                self._retry_later(job, seq, _error_code(exc), str(exc))
                return
            except PermanentSendError as exc:
                self._store.record_permanent_failure(job, seq, self.name, _error_code(exc), str(exc),
                                                     self._clock())
                return
            self._store.record_part_sent(job, seq, self.name, receipt.reference, self._clock())

    def _retry_later(self, job: SendJob, seq: int, code: str, detail: str, *, now_too: bool = False) -> None:
        now = self._clock()
        retry_at = now if now_too else next_attempt_at(job.attempt, now, self._messaging.retry_base_s,
                                                       self._messaging.retry_max_s, self._rng)
        self._store.record_temporary_failure(job, seq, self.name, code, detail, retry_at,
                                             self._messaging.max_attempts, now)
        self._wake_others()

    # --- receiving and health ------------------------------------------------------------------

    def _drain_notices(self) -> bool:
        """Handle queued notices; True when storage should be swept now."""
        sweep = False
        while True:
            try:
                notice = self._notices.get_nowait()
            except queue.Empty:
                return sweep
            if notice.kind == "report" and notice.report is not None:
                self._store.record_status_report(self.name, notice.report, self._clock())
            elif notice.kind == "fatal":
                raise ModemUnavailable(notice.detail or "the modem reported a fatal error")
            else:
                sweep = True

    def _sweep(self) -> None:
        """Persist everything in modem storage, then delete each item once it is committed."""
        for item in self._driver.read_stored():
            now = self._clock()
            if isinstance(item, ReceivedSms):
                self._store.record_received(self.name, item, now,
                                            reply_since=now - timedelta(seconds=self._messaging.reply_window_s))
            elif isinstance(item, StatusReport):
                self._store.record_status_report(self.name, item, now)
            self._driver.delete_stored(item)

    def _poll_health(self) -> None:
        status = self._driver.status()
        registered = status.registration in ("home", "roaming")
        self._set_state(ModemState.ONLINE if registered else ModemState.NOT_REGISTERED, rssi=status.rssi,
                        signal_dbm=status.signal_dbm, registration=status.registration, operator=status.operator)

    def _set_state(self, state: ModemState, **fields) -> None:
        became_online = state == ModemState.ONLINE and self.state != ModemState.ONLINE
        self.state = state
        self._store.save_modem(self.name, self.modem.port, self._clock(), state=state, **fields)
        if became_online:
            self._wake.set()


def _error_code(exc: ModemError) -> str:
    number = getattr(exc, "error_code", None)
    return f"cms_{number}" if number is not None else exc.code


class ModemPool:
    """All workers of this box. `wake()` is the in-process signal that new work is committed."""

    def __init__(self, modems: Sequence[ModemSettings], store: Store, make_driver: DriverFactory, *,
                 pool_settings: PoolSettings, messaging: MessagingSettings,
                 clock: Callable[[], datetime], rng: random.Random | None = None) -> None:
        self._store = store
        self._clock = clock
        self.workers = [
            ModemWorker(m, store, make_driver, pool_settings=pool_settings, messaging=messaging,
                        wake_others=self.wake, clock=clock, rng=rng)
            for m in modems
        ]

    def start(self) -> None:
        """Return work a previous run left claimed, then start every worker."""
        requeued, unknown = self._store.release_claims(self._clock())
        if requeued or unknown:
            log.info("recovered from the last run: %d messages requeued, %d unknown", requeued, unknown)
        for worker in self.workers:
            worker.start()

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    def reset(self, name: str) -> bool:
        for worker in self.workers:
            if worker.name == name:
                worker.reset()
                return True
        return False

    def stop(self, timeout_s: float = 30.0) -> None:
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            worker.join(timeout_s)
