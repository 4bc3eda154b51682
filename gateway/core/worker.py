"""A modem's worker: one thread that alone owns one modem's driver, from connect to close.

It connects (and power-cycles a modem that keeps failing to), claims the next message it may send when it is
online, under its SIM plan's budget and no cheaper modem of the pool is ready for it (gateway.core.queue_policy),
writes each part after committing it as `submitting`, and records each part's fate: while the modem sends a
message's last part, the worker records the message before and claims its next (`_meanwhile`), so between two
sends it waits only for the commit that marks the next part. Between runs of sends it waits on
its wake event and its own timers (storage sweep, health poll, the next retry or scheduled message, the balance
check) and handles the modem's notices (+CMTI, +CDS, calls) and requests handed over by other threads (USSD).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import random
import threading
import time
from concurrent.futures import Future
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, TypeVar

from gateway.config import MessagingSettings, ModemSettings, PoolSettings
from gateway.core.ports import PoolStorage
from gateway.core.queue_policy import cheaper_ready_groups
from gateway.errors import (
    ClaimLost,
    ModemError,
    ModemOffline,
    ModemFaultSendError,
    ModemNeedsInit,
    NoCreditSendError,
    ModemUnavailable,
    PermanentSendError,
    SendOutcomeUnknown,
    SimMissing,
    SimPinRequired,
    StoreUnavailable,
    TemporarySendError,
)
from gateway.modem.atlog import AtLog
from gateway.modem.driver import ModemDriver, Notice, NoticeSink
from gateway.modem.pdu import build_submit_pdus
from gateway.rules.claiming import COST_GRACE_S, UNLIMITED, ClaimLimits, Deferral
from gateway.rules.credit import parse_credit
from gateway.rules.probes import probe_token
from gateway.rules.ratelimit import HOUR, Bundle, SendBudget
from gateway.rules.retry import next_attempt_at
from gateway.rules.text import Segmentation
from gateway.upstream.driver import UpstreamDriver
from gateway.values import (NO_CREDIT, MessageState, ModemState, ReceivedSms, SendJob, SentPart, StatusReport,
                            UnreadableSms)

if TYPE_CHECKING:
    from gateway.store.models import Modem

log = logging.getLogger(__name__)
T = TypeVar("T")

DriverFactory = Callable[[ModemSettings, NoticeSink, AtLog], ModemDriver]
MIN_WAIT_S = 0.01
STORE_RETRY_MIN_S, STORE_RETRY_MAX_S = 0.25, 4.0  # while the database does not answer: how often to look again
REOPEN_AT_ONCE_AFTER_S = 5.0  # settings lost again this soon after an open: reopened after the usual delay
StateListener = Callable[[str, ModemState], None]  # (modem name, state); called on the worker's thread
DegradedListener = Callable[[str, bool], None]  # (modem name, degraded by the canary); on any thread


class PowerSwitch(Protocol):
    """A modem's power (relay or USB hub port, hardware.ModemPower): the pool power-cycles a hung modem."""

    def off(self) -> None: ...

    def on(self) -> None: ...


class ModemWorker:
    """Owns one modem: connects, sends claimed messages part by part, sweeps storage, polls health,
    and reconnects with backoff when the modem fails or vanishes."""

    def __init__(self, modem: ModemSettings, store: PoolStorage, make_driver: DriverFactory, *,
                 pool_settings: PoolSettings, messaging: MessagingSettings,
                 wake_others: Callable[[], None], clock: Callable[[], datetime],
                 rng: random.Random | None = None, listeners: Sequence[StateListener] = (),
                 power: PowerSwitch | None = None,
                 peers: Callable[[], Sequence["ModemWorker"]] = tuple, limits: ClaimLimits = UNLIMITED,
                 kind: str = "modem", degraded_listeners: Sequence[DegradedListener] = ()) -> None:
        """`kind` "upstream": an upstream provider (gateway/upstream/) in a modem's place, claiming within
        `limits`."""
        self.modem = modem  # as configured, with what an admin changed of it (`retune`)
        self._configured = modem
        self.kind = kind
        self.name = modem.name
        self._store = store
        self._make_driver = make_driver
        self._pool = pool_settings
        self._messaging = messaging
        self._wake_others = wake_others
        self._clock = clock
        self._rng = rng or random.Random()
        self._wake = threading.Event()
        self._new_work = threading.Event()  # set by `wake`: work queued since the worker last claimed ahead
        self._stop = threading.Event()
        self._reset = threading.Event()
        self._notices: queue.SimpleQueue[Notice] = queue.SimpleQueue()
        self.at_log = AtLog(clock)  # kept across reconnects: what the modem said before it was reopened
        self._thread = threading.Thread(target=self._run, name=f"modem-{self.name}", daemon=True)
        self._driver: ModemDriver | None = None
        self.state = ModemState.CONNECTING
        self._listeners = listeners  # the pool's list: subscribers added later are seen too
        self._degraded_listeners = degraded_listeners  # the pool's list too
        self._power = power
        self._failed_connects = 0
        self._requests: queue.SimpleQueue[tuple[Future[Any], Callable[[ModemDriver], Any]]] = queue.SimpleQueue()
        self._busy_since: float | None = time.monotonic()  # None while waiting; the watchdog reads it
        self._next_balance: datetime | None = None
        self._credit_low = False  # the last balance read under the modem's low_credit: it claims nothing
        self._refused_until: datetime | None = None  # the network refused its SIM as out of credit: no work till then
        self._degraded = False  # its canary probe did not arrive (gateway/core/canary.py): its own probes only
        self._budget = SendBudget(modem.max_per_minute, modem.max_per_hour)  # the SIM plan's cap (seeded at connect)
        self._bundle = Bundle(modem.bundle_sms, modem.bundle_reset_day)  # its monthly bundle (seeded at connect)
        self._release_at: datetime | None = None  # the earliest scheduled message falls due then
        self._peers = peers  # the pool's workers: dearer ones leave work to this one while it is ready
        self._limits = limits  # what of its group's work it takes (an upstream kept as a fallback: late work only)
        self._deferral: Deferral | None = None  # adaptive routing found it worse than another target
        self.is_ready = False  # online, under its budget and not sending: it claims what it may at once
        self._reopen_now = False  # the modem asked to be initialised again: no reconnect delay
        self._connected_at = time.monotonic()  # the last successful open
        self._sim_missing_said = False  # "no SIM" was logged since the last successful open
        self._behind: SentPart | None = None  # the last part sent, recorded while the modem sends the next one
        self._ahead: SendJob | None = None  # the next message, claimed while the modem sends this one's last part

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
        """New work may be queued: take it (or, mid-run, see whether it overtakes the message claimed ahead)."""
        self._new_work.set()
        self._wake.set()

    def degrade(self) -> None:
        """Send only messages pinned to this modem (its canary probes) until its row says otherwise."""
        self._set_degraded(True)
        self.is_ready = False
        self._wake.set()

    def _set_degraded(self, degraded: bool) -> None:
        if degraded != self._degraded:
            self._degraded = degraded
            for listener in list(self._degraded_listeners):
                try:
                    listener(self.name, degraded)
                except Exception:  # a subscriber's bug must not stop the modem
                    log.exception("modem %s: degraded listener failed", self.name)

    def defer(self, deferral: Deferral | None) -> None:
        """Adaptive routing's verdict on this target (None: it claims as its limits say)."""
        if deferral != self._deferral:
            self._deferral = deferral
            self._wake.set()

    def retune(self, row: Modem) -> None:
        """Take up what an admin changed of this modem (its row's `changed_*`, over the config; from any thread):
        its group, cost and SIM plan's caps. A changed cap counts what the modem sent in the last hour."""
        tuned = tuned_settings(self._configured, row)
        if tuned == self.modem:
            return
        before, self.modem = self.modem, tuned
        if (tuned.max_per_minute, tuned.max_per_hour) != (before.max_per_minute, before.max_per_hour):
            sent = self._store.request_counts.parts_sent_since(self.name, self._clock() - HOUR)
            self._budget = SendBudget(tuned.max_per_minute, tuned.max_per_hour, sent=sent)
        if tuned.group != row.group:
            self._store.modems.save_modem(self.name, tuned.port, self._clock(), group=tuned.group)
        log.info("modem %s: now group %s, cost %s, at most %s a minute and %s an hour (0: no limit)", self.name,
                 tuned.group, tuned.cost, tuned.max_per_minute, tuned.max_per_hour)
        self._wake.set()

    def _claim_limits(self) -> ClaimLimits:
        deferral = self._deferral
        return self._limits if deferral is None else deferral.limits(self._limits, self._rng.random())

    def reset(self) -> None:
        """Ask the worker to close and reopen its modem (after the message in hand)."""
        self._reset.set()
        self._wake.set()

    def _on_notice(self, notice: Notice) -> None:
        """Called on the driver's threads: hand the value over, never touch the port."""
        self._notices.put(notice)
        self._wake.set()

    def submit(self, action: Callable[[ModemDriver], Any]) -> Future[Any]:
        """Hand `action(driver)` to this worker; it runs on the worker's thread between messages, while the
        modem is connected. The caller waits on the Future and cancels it when it gives up (then it never
        runs). Fails with ModemOffline when the modem goes away first."""
        future: Future[Any] = Future()
        self._requests.put((future, action))
        self._wake.set()
        return future

    def stuck_for_s(self) -> float:
        """How long the worker has been inside one modem operation (0 while it waits for work or a retry)."""
        since = self._busy_since
        return 0.0 if since is None or not self._thread.is_alive() else time.monotonic() - since

    def _idle_wait(self, event: threading.Event, timeout_s: float) -> bool:
        self._busy_since = None
        try:
            return event.wait(timeout_s)
        finally:
            self._busy_since = time.monotonic()

    def _publish(self, state: ModemState) -> None:
        for listener in list(self._listeners):
            try:
                listener(self.name, state)
            except Exception:  # a subscriber's bug must not stop the modem
                log.exception("modem %s: state listener failed", self.name)

    # --- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        delay_s = self._pool.reconnect_min_s
        while not self._stop.is_set():
            try:
                delay_s = self._run_once(delay_s)
            except Exception:  # recording the failure failed too (the database is away): keep the thread
                log.exception("modem %s: could not record the modem's state", self.name)
            reopen_now, self._reopen_now = self._reopen_now, False
            if self._idle_wait(self._stop, 0 if reopen_now else delay_s):
                break
            delay_s = min(delay_s * 2, self._pool.reconnect_max_s)
        try:
            self._set_state(ModemState.OFFLINE, last_error="stopped")
        except Exception:
            log.exception("modem %s: could not record that it stopped", self.name)

    def _run_once(self, delay_s: float) -> float:
        """One connection: connect, serve until it fails or we stop, hand claimed work back. Returns the
        delay before the next attempt."""
        try:
            self._connect()
            delay_s = self._pool.reconnect_min_s
            self._serve()
        except SimPinRequired as exc:
            self._set_state(ModemState.PIN_NEEDED, last_error=str(exc))
            delay_s = self._pool.reconnect_max_s
        except SimMissing as exc:  # at connect: look again as often as a connected modem's health is polled
            self._sim_missing(str(exc))
            delay_s = min(delay_s, self._pool.health_interval_s)
        except ModemNeedsInit as exc:
            log.warning("modem %s: %s; reopening it", self.name, exc)
            self._set_state(ModemState.CONNECTING, last_error=str(exc))
            self._reopen_now = True
        except ModemError as exc:
            log.warning("modem %s unavailable: %s", self.name, exc)
            self._set_state(ModemState.OFFLINE, last_error=str(exc))
        except Exception as exc:  # the worker must survive anything and hand its work back
            log.exception("modem %s worker error", self.name)
            self._set_state(ModemState.OFFLINE, last_error=f"internal error: {exc!r}")
        finally:
            self._disconnect()
        return delay_s

    def _connect(self) -> None:
        self._set_state(ModemState.CONNECTING, kind=self.kind)
        if (self._power is not None and self._pool.power_cycle_after > 0
                and self._failed_connects >= self._pool.power_cycle_after):
            self._power_cycle()
        self._failed_connects += 1  # until open() succeeds
        self._driver = self._make_driver(self.modem, self._on_notice, self.at_log)
        info = self._driver.open()
        self._connected_at = time.monotonic()
        self._sim_missing_said = False
        self._drop_state_notices()
        self._failed_connects = 0
        if self._budget.is_limited:  # what it sent before a restart counts
            sent = self._store.request_counts.parts_sent_since(self.name, self._clock() - HOUR)
            self._budget = SendBudget(self.modem.max_per_minute, self.modem.max_per_hour, sent=sent)
        if self._bundle.size:
            start = self._bundle.period_start(self._clock())
            used = len(self._store.request_counts.parts_sent_since(self.name, start))
            self._bundle = Bundle(self.modem.bundle_sms, self.modem.bundle_reset_day, used)
        fields = {"own_number": info.own_number} if info.own_number else {}
        row = self._store.modems.save_modem(self.name, self.modem.port, self._clock(), manufacturer=info.manufacturer,
                                            model=info.model, imei=info.imei, last_error=None, group=self.modem.group,
                                            **fields)
        self.retune(row)
        log.info("modem %s online: %s %s IMEI %s", self.name, info.manufacturer, info.model, info.imei)
        self._next_balance = self._clock() if self.modem.balance_ussd else None

    def _drop_state_notices(self) -> None:
        """Opening re-initialised the modem and the first health poll reads its state: the restart, SIM and
        registration notices queued until now are answered (a restart's banners would otherwise reopen it once per
        banner). What is in storage, inline reports and calls are kept."""
        kept = []
        while True:
            try:
                notice = self._notices.get_nowait()
            except queue.Empty:
                break
            if notice.kind not in _STATE_NOTICES:
                kept.append(notice)
        for notice in kept:
            self._notices.put(notice)

    def _power_cycle(self) -> None:
        """Power off, wait, power on: a modem that stopped answering reconnects from a cold boot."""
        log.warning("modem %s: %d connects failed in a row; power-cycling it", self.name, self._failed_connects)
        self._failed_connects = 0
        if self._power is None:
            return
        self._power.off()
        self._idle_wait(self._stop, self._pool.power_off_s)
        self._power.on()

    def _disconnect(self) -> None:
        self.is_ready = False
        if self._driver is not None:
            try:
                self._driver.close()
            except Exception:
                log.exception("modem %s close failed", self.name)
            self._driver = None
        self._fail_requests("went offline")
        requeued, _ = self._store.outbox.release_claims(self._clock(), modem=self.name)
        if requeued:
            self._wake_others()
        self._fail_over()  # what it released may need another group now

    @property
    def _connected(self) -> ModemDriver:
        """The driver of the modem this worker is serving; ModemUnavailable when it has none."""
        if self._driver is None:
            raise ModemUnavailable("the modem is not connected")
        return self._driver

    def _serve(self) -> None:
        driver = self._connected
        next_health = next_sweep = self._clock()
        store_delay_s = STORE_RETRY_MIN_S
        while not self._stop.is_set():
            try:
                if not driver.is_alive():
                    raise ModemUnavailable("the modem's port or reader died")
                if self._reset.is_set():
                    self._reset.clear()
                    raise ModemUnavailable("reset by the operator")
                now = self._clock()
                if (self._drain_notices() or now >= next_sweep) and self.state != ModemState.NO_SIM:
                    self._sweep()
                    next_sweep = now + timedelta(seconds=self._pool.sweep_interval_s)
                if now >= next_health:
                    self._poll_health()
                    next_health = now + timedelta(seconds=self._pool.health_interval_s)
                self._serve_requests(driver)
                if self._next_balance is not None and now >= self._next_balance and self.state == ModemState.ONLINE:
                    self._check_balance(driver)
                self._wake.clear()
                if self._refused_until is not None and now >= self._refused_until:
                    self._refused_until = None  # its next message shows whether the SIM was topped up
                    self._store.modems.save_modem(self.name, self.modem.port, now, last_error=None)
                over_budget_until = self._cap_free_at(now)  # over the SIM's cap or bundle: claim nothing until then
                self.is_ready = self._is_ready(now)
                cheaper = self._cheaper_ready_groups()
                if self.state == ModemState.ONLINE:
                    if self._release_at is not None and now >= self._release_at:
                        self._release_due(now)
                    if over_budget_until is None and not self._without_credit:
                        job = self._store.outbox.claim_next(self.name, now, self._pool.lease_s, group=self.modem.group,
                                                            cheaper_groups=cheaper, submitting=True,
                                                            pinned_only=self._degraded, limits=self._claim_limits())
                        if job is not None:
                            chain_until = min(next_sweep, next_health, self._release_at or next_health)
                            while job is not None:  # each send claims the next ahead, while nothing else is due
                                job = self._send(job, chain_until)
                            continue
                deadlines = [next_sweep, next_health, now + timedelta(seconds=self._pool.idle_poll_s)]
                due = None
                if self.state == ModemState.ONLINE and not self._without_credit and not self._degraded:
                    # (low credit: the next balance check wakes it; degraded: a probe queued for it does)
                    limits = self._limits if self._deferral is None else self._deferral.limits(self._limits, 1.0)
                    due = over_budget_until or self._store.outbox.next_due_at(self.name, now, group=self.modem.group,
                                                                              limits=limits)
                    if due is not None and cheaper:  # what it left to a cheaper modem: look again after the grace
                        due = max(due, now + timedelta(seconds=COST_GRACE_S))
                    self._release_at = self._store.outbox.next_scheduled_at()
                    if self._release_at is not None:
                        deadlines.append(self._release_at)
                if due is not None:
                    deadlines.append(due)
                if self._next_balance is not None:
                    deadlines.append(self._next_balance)
                if self._refused_until is not None:
                    deadlines.append(self._refused_until)
                self._idle_wait(self._wake, max(MIN_WAIT_S, (min(deadlines) - self._clock()).total_seconds()))
            except StoreUnavailable as exc:  # the modem stays open; its work waits for the database
                store_delay_s = self._wait_for_store(exc, store_delay_s)
                continue
            store_delay_s = STORE_RETRY_MIN_S

    def _wait_for_store(self, exc: StoreUnavailable, delay_s: float) -> float:
        """The database does not answer: claim nothing, keep the modem, look again later; the next delay."""
        self.is_ready = False
        log.warning("modem %s: the database does not answer (%s); pausing %g s", self.name, exc, delay_s)
        self._idle_wait(self._stop, delay_s)
        return min(delay_s * 2, STORE_RETRY_MAX_S)

    def _cheaper_ready_groups(self) -> list[str]:
        return cheaper_ready_groups(self.modem.cost, ((w.modem.group, w.modem.cost, w.is_ready) for w in self._peers()))

    def _fail_over(self) -> None:
        """Move queued work of groups left with no modem online to their fallback groups (not while stopping:
        the modems are only going away for a restart)."""
        if not self._stop.is_set() and self._store.outbox.fail_over(self._clock()):
            self._wake_others()

    def _release_due(self, now: datetime) -> None:
        """Scheduled messages whose time came join the queue (and expired ones leave it); others may take them."""
        released, _ = self._store.outbox.release_due(now)
        self._release_at = None
        if released:
            self._wake_others()

    # --- requests handed over by other threads (USSD), and the balance --------------------------

    def _serve_requests(self, driver: ModemDriver) -> None:
        while True:
            try:
                future, action = self._requests.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue  # the caller gave up: the port is not touched for it
            try:
                future.set_result(action(driver))
            except BaseException as exc:
                future.set_exception(exc)
                if isinstance(exc, ModemUnavailable):
                    raise  # the port is gone: reconnect, like any other operation

    def _fail_requests(self, reason: str) -> None:
        while True:
            try:
                future, _ = self._requests.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(ModemOffline(f"modem {self.name} {reason}"))

    def _check_balance(self, driver: ModemDriver) -> None:
        """Ask the balance USSD code; the answer (or why there is none) goes on the modem's row."""
        self._next_balance = self._clock() + timedelta(seconds=self._pool.balance_interval_s)
        try:
            answer = driver.ussd(self.modem.balance_ussd, self._pool.ussd_timeout_s)
        except ModemUnavailable:
            raise
        except ModemError as exc:
            log.warning("modem %s: balance check %s failed: %s", self.name, self.modem.balance_ussd, exc)
            return
        self._store.modems.save_modem(self.name, self.modem.port, self._clock(), balance=answer,
                                      balance_checked_at=self._clock())
        credit = parse_credit(answer)
        low = credit is not None and credit.amount < Decimal(str(self.modem.low_credit))
        if credit is not None and low != self._credit_low:
            self._credit_low = low
            if low:
                log.warning("modem %s: credit %s is under low_credit %g: it takes no work until topped up", self.name,
                            credit, self.modem.low_credit)
                self._wake_others()
            else:
                log.info("modem %s: credit %s: taking work again", self.name, credit)

    # --- sending -------------------------------------------------------------------------------

    def _send(self, job: SendJob, chain_until: datetime) -> SendJob | None:
        """Send `job`; the next message, claimed in the transaction that recorded this one sent, when nothing
        else is due before `chain_until` (sweep, health poll, scheduled release) or pending (notices, requests)."""
        self.is_ready = False
        self._publish(ModemState.SENDING)  # for the LEDs only: the row stays online while it sends
        try:
            return self._send_parts(job, chain_until)
        finally:
            self._publish(self.state)
            self.is_ready = self._is_ready(self._clock())

    @property
    def _without_credit(self) -> bool:
        """Its balance is under low_credit, or the network refused its SIM as out of credit a moment ago."""
        return self._credit_low or self._refused_until is not None

    def _cap_free_at(self, now: datetime, in_flight: int = 0) -> datetime | None:
        """None while its plan lets it send (rate caps, monthly bundle) after `in_flight` parts not yet counted, else
        when it may again."""
        return self._budget.free_at(now, in_flight) or self._bundle.free_at(now, in_flight)

    def _count_sent(self, at: datetime) -> None:
        """A part (or an upstream's whole message) left: it counts against the plan's caps and bundle."""
        self._budget.record(at)
        self._bundle.record(at)
        if self._bundle.size and self._bundle.used == self._bundle.size:
            log.warning("modem %s: its bundle of %d SMS is used up; it takes no work until it renews at %s",
                        self.name, self._bundle.size, f"{self._bundle.renews_at(at):%Y-%m-%d %H:%M} UTC")
            self._store.modems.save_modem(self.name, self.modem.port, at, **self._bundle_fields())
            self._wake_others()

    def _bundle_fields(self) -> dict[str, Any]:
        """Its bundle as its row shows it (nothing when its plan has none)."""
        bundle, now = self._bundle, self._clock()
        if not bundle.size:
            return {}
        return {"bundle_size": bundle.size, "bundle_used": bundle.used_at(now),
                "bundle_resets_at": bundle.renews_at(now)}

    def _is_ready(self, now: datetime) -> bool:
        """Online, under its SIM's cap, with credit and not degraded: it takes any work it may at once (dearer
        peers leave work to it while it is)."""
        return (self.state == ModemState.ONLINE and self._cap_free_at(now) is None and not self._without_credit
                and not self._degraded and self._deferral is None)

    def _may_chain(self, now: datetime, chain_until: datetime, in_flight: int = 0) -> bool:
        """Whether the worker may claim its next message without going round its loop first (a deferred one goes
        round it: its claims are limited), `in_flight` parts still to count against its plan."""
        return (now < chain_until and self.state == ModemState.ONLINE and self._cap_free_at(now, in_flight) is None
                and not self._without_credit and self._deferral is None and not self._stop.is_set()
                and not self._reset.is_set()
                and self._notices.empty() and self._requests.empty())

    def _send_parts(self, job: SendJob, chain_until: datetime) -> SendJob | None:
        driver = self._connected
        if isinstance(driver, UpstreamDriver):
            self._send_whole(driver, job)
            return None
        pdus = build_submit_pdus(job.to_number, Segmentation(job.encoding, job.parts), concat_ref=job.concat_ref,
                                 request_status_report=job.delivery_report)
        for seq in range(job.first_seq, len(pdus) + 1):
            last = seq == len(pdus)
            if seq > job.first_seq:  # the claim marked the first part and leased it; a later one renews the lease
                now = self._clock()
                try:
                    self._store.outbox.mark_part_submitting(job, seq, self.name, now,
                                                            lease_until=now + timedelta(seconds=self._pool.lease_s))
                except ClaimLost as exc:  # another box settled it while this one was away: not ours to go on
                    log.warning("modem %s: %s; part %d not sent", self.name, exc, seq)
                    return None
            pdu = pdus[seq - 1]
            meanwhile = self._meanwhile(claim=last, chain_until=chain_until)
            try:
                sent = self._attempt(job, seq, lambda: driver.send_pdu(pdu, self._pool.send_timeout_s, meanwhile))
            except BaseException:
                self._end_run()
                raise
            if sent is None:  # refused, and recorded so: the modem goes on with the message claimed ahead
                return self._next_in_run(chain_until)
            sent_at, reference = self._clock(), sent.reference
            self._count_sent(sent_at)
            self._record_behind()  # what the meanwhile could not record (the database did not answer then)
            if not last:
                self._recorded(lambda: self._store.outbox.record_part_sent(job, seq, self.name, reference, sent_at))
                continue
            log.info("modem %s: message %s sent (%d part%s)", self.name, job.uid, seq, "" if seq == 1 else "s")
            self._behind = SentPart(job, seq, reference, sent_at)
            return self._next_in_run(chain_until)
        return None

    def _send_whole(self, upstream: UpstreamDriver, job: SendJob) -> None:
        """An upstream provider takes the whole text at once (it splits it itself). The claim committed the first
        part `submitting`; every part is recorded sent with the provider's answer."""
        unicode = job.encoding != "gsm7"
        # (the provider's id,): a provider may give no id (None), which must not read as a refusal
        accepted = self._attempt(job, job.first_seq, lambda: (upstream.send_message(
            job.uid, job.to_number, "".join(job.parts), unicode=unicode, receipt=job.delivery_report),))
        if accepted is None:
            return
        sent_at = self._clock()
        self._count_sent(sent_at)
        self._recorded(lambda: self._store.outbox.record_sent_whole(job, self.name, accepted[0], sent_at))
        log.info("upstream %s: message %s accepted (%s)", self.name, job.uid, accepted[0] or "no id given")

    def _attempt(self, job: SendJob, seq: int, send: Callable[[], T]) -> T | None:
        """`send()` part `seq` of `job`; its answer, or None when it was refused (the message is then recorded
        retried, failed or put back). A part whose fate is unknown is recorded so, and the worker reconnects."""
        try:
            return send()
        except SendOutcomeUnknown as exc:
            self._recorded(lambda: self._store.outbox.record_unknown(job, seq, self.name, str(exc), self._clock()))
            log.warning("modem %s: message %s part %d: no answer after it was written, so it may have gone "
                        "out: unknown, never re-sent (%s)", self.name, job.uid, seq, exc)
            raise
        except ModemUnavailable as exc:
            self._retry_later(job, seq, exc.code, str(exc), now_too=True)
            raise
        except NoCreditSendError as exc:  # our SIM's trouble, not the message's: it goes back; the SIM rests
            self._recorded(lambda: self._store.outbox.record_modem_fault(job, seq, self.name, _error_code(exc),
                                                                        str(exc), self._clock()))
            self._rest_without_credit(exc)
        except ModemFaultSendError as exc:  # the modem's trouble, not the message's: reopen the modem
            self._recorded(lambda: self._store.outbox.record_modem_fault(job, seq, self.name, _error_code(exc),
                                                                        str(exc), self._clock()))
            log.warning("modem %s: message %s put back, attempt not counted: %s %s", self.name, job.uid,
                        _error_code(exc), exc)
            self._wake_others()
            raise ModemUnavailable(f"{exc}: re-initialising the modem") from exc
        except TemporarySendError as exc:
            self._retry_later(job, seq, _error_code(exc), str(exc))
        except PermanentSendError as exc:
            self._recorded(lambda: self._store.outbox.record_permanent_failure(
                job, seq, self.name, _error_code(exc), str(exc), self._clock()))
            log.warning("modem %s: message %s failed: %s %s", self.name, job.uid, _error_code(exc), exc)
        return None

    def _meanwhile(self, *, claim: bool, chain_until: datetime) -> Callable[[], None]:
        """The bookkeeping done while the modem sends a part, off the time between two parts: record the part
        left behind (the previous message's last) and, with `claim` (the part is its message's last), claim this
        modem's next message ahead, in one commit. What the database refuses waits for `_record_behind`."""
        def bookkeeping() -> None:
            behind, now = self._behind, self._clock()
            claim_now = claim and self._may_chain(now, chain_until, in_flight=1)  # (the part the modem has)
            outbox = self._store.outbox
            if claim_now:
                self._new_work.clear()  # what comes from here on may be more urgent than what it claims now
            try:
                if behind is not None and claim_now:
                    self._ahead = outbox.record_sent_claim_next(
                        behind, self.name, now, self._pool.lease_s, group=self.modem.group,
                        cheaper_groups=self._cheaper_ready_groups(), pinned_only=self._degraded)
                elif behind is not None:
                    self._record_part(behind)
                elif claim_now:
                    self._ahead = outbox.claim_next(self.name, now, self._pool.lease_s, group=self.modem.group,
                                                    cheaper_groups=self._cheaper_ready_groups(),
                                                    pinned_only=self._degraded)
                self._behind = None
            except StoreUnavailable as exc:
                log.warning("modem %s: the database does not answer (%s); recording after the modem's answer",
                            self.name, exc)
        return bookkeeping

    def _next_in_run(self, chain_until: datetime) -> SendJob | None:
        """The message claimed ahead, its first part now marked `submitting`, when the worker may go on at once
        (nothing else due before `chain_until`, nothing pending); else the run ends (None)."""
        ahead, now = self._ahead, self._clock()
        if ahead is not None and self._may_chain(now, chain_until):
            try:  # the commit that notes the part behind as answered: a crash from here leaves it sent, not unknown
                following = self._store.outbox.hand_over(
                    ahead, self.name, now, self._behind, self._pool.lease_s, overtake=self._new_work.is_set(),
                    group=self.modem.group, cheaper_groups=self._cheaper_ready_groups(), pinned_only=self._degraded)
                self._ahead = None
                return following
            except ClaimLost as exc:  # another box settled it while this one was away: not ours to send
                log.warning("modem %s: %s; not sent", self.name, exc)
                self._ahead = None
            except StoreUnavailable as exc:
                log.warning("modem %s: the database does not answer (%s); message %s given back", self.name, exc,
                            ahead.uid)
        self._end_run()
        return None

    def _end_run(self) -> None:
        """The run of sends stops: record the part left behind, give the message claimed ahead back."""
        self._record_behind()
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            self._recorded(lambda: self._store.outbox.give_back(ahead, self.name, self._clock()))

    def _record_behind(self) -> None:
        """Record the part the modem took whose record the meanwhile could not make (nothing more was written,
        or the database did not answer then)."""
        behind, self._behind = self._behind, None
        if behind is not None:
            self._recorded(lambda: self._record_part(behind))

    def _record_part(self, sent: SentPart) -> None:
        """Commit that the modem took `sent` (`Outbox.record_part_sent`)."""
        self._store.outbox.record_part_sent(sent.job, sent.seq, self.name, sent.reference, sent.sent_at)

    def _recorded(self, record: Callable[[], T]) -> T:
        """Record a fate the modem has decided already (sent, refused, unknown), waiting out a database that does
        not answer: the worker holds it until it is stored. Only a stop gives up (the claim's lease then settles
        the message: a part in flight becomes unknown, never re-sent)."""
        delay_s = STORE_RETRY_MIN_S
        while True:
            try:
                return record()
            except StoreUnavailable as exc:
                if self._stop.is_set():
                    raise
                log.warning("modem %s: the database does not answer (%s); holding a part's outcome, retrying in "
                            "%g s", self.name, exc, delay_s)
                self._idle_wait(self._stop, delay_s)
                delay_s = min(delay_s * 2, STORE_RETRY_MAX_S)

    def _rest_without_credit(self, exc: NoCreditSendError) -> None:
        """The network refused the SIM (out of credit, barred): no work for `no_credit_hold_s`, said on its row."""
        now = self._clock()
        self._refused_until = now + timedelta(seconds=self._pool.no_credit_hold_s)
        self.is_ready = False
        log.warning("modem %s: %s; it takes no work until %s", self.name, exc, f"{self._refused_until:%H:%M:%S}")
        self._store.modems.save_modem(self.name, self.modem.port, now, last_error=f"{NO_CREDIT}: {exc}")
        self._wake_others()

    def _retry_later(self, job: SendJob, seq: int, code: str, detail: str, *, now_too: bool = False) -> None:
        now = self._clock()
        retry_at = now if now_too else next_attempt_at(job.attempt, now, self._messaging.retry_base_s,
                                                       self._messaging.retry_max_s, self._rng)
        state = self._recorded(lambda: self._store.outbox.record_temporary_failure(
            job, seq, self.name, code, detail, retry_at, self._messaging.max_attempts, now))
        if state == MessageState.FAILED:
            log.warning("modem %s: message %s failed after %d attempts: %s %s", self.name, job.uid, job.attempt,
                        code, detail)
        else:
            log.info("modem %s: message %s will be retried (attempt %d of %d): %s %s", self.name, job.uid,
                     job.attempt, self._messaging.max_attempts, code, detail)
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
                self._store.reports.record_status_report(self.name, notice.report, self._clock())
            elif notice.kind == "restarted":  # reopening re-initialises it (PIN, PDU mode, CNMI, …)
                raise ModemNeedsInit(notice.detail or "the modem restarted")
            elif notice.kind == "fatal":
                raise ModemUnavailable(notice.detail or "the modem reported a fatal error")
            elif notice.kind == "registration":
                self._registration_changed(notice.detail or "unknown")
            elif notice.kind == "sim":
                self._sim_changed(notice.detail or "")
            elif notice.kind == "power":
                self._power_warning(notice.detail or "")
            elif notice.kind == "call":  # a voice call would block the modem: refuse it at once
                log.info("modem %s: incoming call from %s refused", self.name, notice.detail or "an unknown number")
                self._connected.reject_call()
            else:
                sweep = True

    def _sweep(self) -> None:
        """Persist everything in modem storage, then delete each item once it is committed. An item that cannot
        be decoded, or whose recording fails for any reason but the database being away, is quarantined raw:
        one bad SMS never blocks the SIM or the worker."""
        for item in self._connected.read_stored():
            now = self._clock()
            if isinstance(item, UnreadableSms):
                self._quarantine(item.memory, item.index, item.pdu_hex, f"cannot be decoded: {item.reason}", now)
            else:
                try:
                    self._record_stored(item, now)
                except StoreUnavailable:
                    raise  # left on the modem until the database answers
                except Exception as exc:
                    log.exception("modem %s: stored item %s/%s could not be recorded", self.name, item.memory,
                                  item.index)
                    self._quarantine(item.memory or "", item.index or 0, item.pdu_hex,
                                     f"could not be stored: {type(exc).__name__}: {exc}", now)
            self._connected.delete_stored(item)

    def _record_stored(self, item: ReceivedSms | StatusReport, now: datetime) -> None:
        if not isinstance(item, ReceivedSms):
            self._store.reports.record_status_report(self.name, item, now)
            return
        token = probe_token(item.text)
        probe = self._store.probes.arrived(token, self.name, now) if token is not None else None
        if probe is not None:  # a canary probe, not a person's SMS: no inbox, webhook or rule sees it
            log.info("modem %s: the canary probe from %s arrived", self.name, probe.from_modem)
            return
        received = self._store.inbox.record_received(
            self.name, item, now, reply_since=now - timedelta(seconds=self._messaging.reply_window_s))
        if received is not None:
            log.info("modem %s: message %s received (%d part%s)", self.name, received.uid, received.part_count,
                     "" if received.part_count == 1 else "s")

    def _quarantine(self, memory: str, slot: int, pdu_hex: str, reason: str, now: datetime) -> None:
        log.warning("modem %s: SMS in %s/%d quarantined (%s)", self.name, memory, slot, reason)
        self._store.inbox.quarantine(self.name, memory, slot, pdu_hex, reason, now)

    def _registration_changed(self, registration: str) -> None:
        """The modem said its registration changed: stop claiming work at once, or take it up again."""
        if self.state not in _REGISTERED_OR_NOT:
            return  # connecting, or the SIM is the trouble: the next open or poll decides
        state = _state_when(registration)
        if state != self.state:
            log.log(logging.INFO if state == ModemState.ONLINE else logging.WARNING, "modem %s: registration %s",
                    self.name, registration)
        self._set_state(state, registration=registration)

    def _sim_changed(self, detail: str) -> None:
        """The SIM went away (stop claiming, keep the port: the modem still talks) or came back (re-initialise:
        PIN, storage, notifications)."""
        if detail == "ready":
            if self.state == ModemState.NO_SIM:
                raise ModemNeedsInit("the SIM is back: re-initialising")
        elif self.state in _REGISTERED_OR_NOT:
            self._sim_missing(f"SIM {detail}")

    def _sim_missing(self, reason: str) -> None:
        if not self._sim_missing_said:  # once, not at every look while it stays away
            log.warning("modem %s: no SIM (%s); claiming nothing until it is back", self.name, reason)
            self._sim_missing_said = True
        self._set_state(ModemState.NO_SIM, last_error=reason, registration=None)

    def _power_warning(self, line: str) -> None:
        """A supply warning: said where an operator looks; a modem switching itself off is reopened (and, if it
        stays silent, power-cycled)."""
        log.warning("modem %s: %s: check its power supply", self.name, line)
        self._store.modems.save_modem(self.name, self.modem.port, self._clock(), last_error=f"power supply: {line}")
        if "POWER DOWN" in line:
            raise ModemUnavailable(f"the modem is switching itself off ({line})")

    def _poll_health(self) -> None:
        try:
            status = self._connected.status()
        except SimMissing as exc:
            self._sim_missing(str(exc))
            return
        except ModemNeedsInit as exc:
            if time.monotonic() - self._connected_at < REOPEN_AT_ONCE_AFTER_S:  # drift that opening did not cure:
                raise ModemUnavailable(str(exc)) from exc  # reopen after the usual delay, not in a tight loop
            raise
        if self.state == ModemState.NO_SIM:
            raise ModemNeedsInit("the SIM is back: re-initialising")
        if status.storage_total and status.storage_used is not None and status.storage_used >= status.storage_total:
            log.warning("modem %s: SMS storage full (%d of %d): new SMS cannot arrive until it is emptied", self.name,
                        status.storage_used, status.storage_total)
        self._set_state(_state_when(status.registration), rssi=status.rssi, signal_dbm=status.signal_dbm,
                        registration=status.registration, operator=status.operator,
                        storage_used=status.storage_used, storage_total=status.storage_total, **self._bundle_fields())

    def _set_state(self, state: ModemState, **fields: Any) -> None:
        became_online = state == ModemState.ONLINE and self.state != ModemState.ONLINE
        left_online = self.state == ModemState.ONLINE and state != ModemState.ONLINE
        changed = state != self.state
        self.state = state
        if state != ModemState.ONLINE:
            self.is_ready = False
        row = self._store.modems.save_modem(self.name, self.modem.port, self._clock(), state=state, **fields)
        self.retune(row)  # another box may have changed it
        if (row.degraded_since is not None) != self._degraded:
            self._set_degraded(row.degraded_since is not None)
            log.warning("modem %s: %s", self.name, "degraded by the canary: it sends only its own probes"
                        if self._degraded else "its probe arrived: no longer degraded")
        if changed:
            self._publish(state)
        if became_online or left_online:
            self._fail_over()
        if became_online:
            self._wake.set()


_STATE_NOTICES = frozenset({"restarted", "fatal", "sim", "registration"})
_REGISTERED_OR_NOT = (ModemState.ONLINE, ModemState.NOT_REGISTERED, ModemState.SEARCHING)  # connected, SIM ready


def tuned_settings(configured: ModemSettings, row: Modem) -> ModemSettings:
    """A modem's settings: its config's, with what an admin changed of them (`row`'s `changed_*`)."""
    return dataclasses.replace(
        configured, group=configured.group if row.changed_group is None else row.changed_group,
        cost=configured.cost if row.changed_cost is None else row.changed_cost,
        max_per_minute=configured.max_per_minute if row.changed_per_minute is None else row.changed_per_minute,
        max_per_hour=configured.max_per_hour if row.changed_per_hour is None else row.changed_per_hour)


def _state_when(registration: str) -> ModemState:
    """A connected modem's state for its registration: online at home or roaming, searching, or not registered."""
    if registration in ("home", "roaming"):
        return ModemState.ONLINE
    return ModemState.SEARCHING if registration == "searching" else ModemState.NOT_REGISTERED


def _error_code(exc: ModemError) -> str:
    """`cms_N` / `cme_N` for a numbered +CMS/+CME refusal, else the error's own code."""
    number = getattr(exc, "error_code", None)
    return f"{getattr(exc, 'error_kind', 'CMS').lower()}_{number}" if number is not None else exc.code
