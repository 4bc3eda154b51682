"""The modem pool: one ModemWorker thread per modem, which alone owns that modem's driver.

Dispatch is event-driven: `ModemPool.wake()` (called after the API commits) sets every worker's wake
event; an idle worker claims the next message at once, unless a cheaper modem of the pool, ready to claim,
may send it (then it leaves it to that one for a moment). Workers also wake for their own timers (storage
sweep, health poll, the next retry that falls due) and for modem notices (+CMTI, +CDS). When a modem comes
or goes, queued messages whose group has no modem online fail over to their rule's fallback group.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from gateway.config import MessagingSettings, ModemSettings, PoolSettings, UpstreamSettings
from gateway.core.ports import PoolStorage
from gateway.core.worker import DegradedListener, DriverFactory, ModemWorker, PowerSwitch, StateListener
from gateway.modem.atlog import AtLine
from gateway.rules.claiming import UNLIMITED, ClaimLimits, Deferral
from gateway.errors import ModemNotFound, ModemOffline, ModemTimeout, ModemUnavailable, UssdTimeout
from gateway.values import ModemState

if TYPE_CHECKING:
    from gateway.store.models import Modem

log = logging.getLogger(__name__)

USSD_HANDOFF_S = 2.0  # on top of the USSD timeout: the worker may be finishing the part in hand


class ModemPool:
    """All workers of this box. `wake()` is the in-process signal that new work is committed."""

    def __init__(self, modems: Sequence[ModemSettings], store: PoolStorage, make_driver: DriverFactory, *,
                 pool_settings: PoolSettings, messaging: MessagingSettings,
                 clock: Callable[[], datetime], rng: random.Random | None = None,
                 power_for: Callable[[ModemSettings], PowerSwitch | None] | None = None,
                 upstreams: Sequence[UpstreamSettings] = ()) -> None:
        """`upstreams` run as workers too, under their `as_modem()` settings, each claiming within its limits;
        `make_driver` gives them their driver (gateway.upstream.driver) by name."""
        self._store = store
        self._clock = clock
        self._stranded_after_s = pool_settings.stranded_after_s
        self._listeners: list[StateListener] = []
        self._degraded_listeners: list[DegradedListener] = []
        self._changing = threading.Lock()  # add/remove replace `workers` (copy on write: iterating is safe)
        self._started = False

        def new_worker(m: ModemSettings, upstream: UpstreamSettings | None = None) -> ModemWorker:
            limits = UNLIMITED if upstream is None else ClaimLimits(upstream.due_after_s, upstream.max_priority)
            return ModemWorker(m, store, make_driver, pool_settings=pool_settings, messaging=messaging,
                               wake_others=self.wake, clock=clock, rng=rng, listeners=self._listeners,
                               power=power_for(m) if power_for else None, peers=lambda: self.workers, limits=limits,
                               kind="modem" if upstream is None else "upstream",
                               degraded_listeners=self._degraded_listeners)

        self._new_worker = new_worker
        self.workers = [new_worker(m) for m in modems] + [new_worker(u.as_modem(), u) for u in upstreams]

    def subscribe(self, listener: StateListener) -> None:
        """Call `listener(name, state)` on every modem state change (and SENDING around each message). It
        runs on the worker's thread: it must only hand the values over (e.g. put them on its own queue)."""
        self._listeners.append(listener)

    def subscribe_degraded(self, listener: DegradedListener) -> None:
        """Call `listener(name, degraded)` when the canary's verdict on a modem changes (on any thread: it must only
        hand the values over)."""
        self._degraded_listeners.append(listener)

    def add(self, modem: ModemSettings) -> ModemWorker:
        """Run one more modem (plugged in while running); it starts at once when the pool runs."""
        with self._changing:
            if any(w.name == modem.name for w in self.workers):
                raise ValueError(f"modem {modem.name!r} already runs in this pool")
            worker = self._new_worker(modem)
            self.workers = [*self.workers, worker]
            if self._started:
                worker.start()
        log.info("modem %s added on %s", modem.name, modem.port)
        return worker

    def set_degraded(self, name: str) -> None:
        """The canary found modem `name`'s SIM silent: from now it sends only its own probes (when it runs here;
        a worker reads the verdict from its modem's row at each health poll anyway)."""
        for worker in self.workers:
            if worker.name == name:
                worker.degrade()

    def defer(self, deferrals: Mapping[str, Deferral]) -> None:
        """Adaptive routing's verdict (gateway/core/adaptive.py): the workers named are deferred, the others not."""
        for worker in self.workers:
            worker.defer(deferrals.get(worker.name))

    def retune(self, row: Modem) -> bool:
        """Modem `row.name` takes up what an admin changed of it now (other boxes' at their next health poll)."""
        worker = next((w for w in self.workers if w.name == row.name), None)
        if worker is not None:
            worker.retune(row)
        return worker is not None

    def remove(self, name: str, timeout_s: float = 30.0) -> bool:
        """Stop and drop modem `name` (it vanished); its claimed work goes back to the queue."""
        with self._changing:
            worker = next((w for w in self.workers if w.name == name), None)
            if worker is None:
                return False
            self.workers = [w for w in self.workers if w is not worker]
        worker.stop()
        worker.join(timeout_s)
        log.info("modem %s removed", name)
        return True

    def worker(self, name: str) -> ModemWorker:
        for worker in self.workers:
            if worker.name == name:
                return worker
        raise ModemNotFound(f"no modem named {name!r} runs in this gateway", field="name")

    def ussd(self, name: str, code: str, timeout_s: float) -> str:
        """Run a USSD code on modem `name`'s own thread and wait for the network's answer."""
        worker = self.worker(name)
        if worker.state not in (ModemState.ONLINE, ModemState.NOT_REGISTERED, ModemState.SEARCHING):
            raise ModemOffline(f"modem {name} is {worker.state.value}; USSD needs it connected")
        future = worker.submit(lambda driver: driver.ussd(code, timeout_s))
        try:
            answer: str = future.result(timeout_s + USSD_HANDOFF_S)
            return answer
        except FutureTimeout:
            future.cancel()
            raise UssdTimeout(f"modem {name} did not answer USSD {code} within {timeout_s:g} s "
                              "(busy sending, or the network is silent)") from None
        except ModemTimeout as exc:
            raise UssdTimeout(f"modem {name}: {exc}") from exc
        except ModemUnavailable as exc:
            raise ModemOffline(f"modem {name} went offline: {exc}") from exc

    def stuck_workers(self, limit_s: float) -> list[str]:
        """Modems whose worker has been inside one operation longer than `limit_s` (for the watchdog)."""
        return [w.name for w in self.workers if w.stuck_for_s() > limit_s]

    def start(self) -> None:
        """Return work a previous run left claimed by this box's modems, then start every worker. (Claims
        of other boxes' modems are theirs; those of a box that died are released when their lease passes.)"""
        requeued, unknown = self._store.outbox.release_claims(self._clock(), modems=[w.name for w in self.workers])
        if requeued or unknown:
            log.info("recovered from the last run: %d messages requeued, %d unknown", requeued, unknown)
        with self._changing:
            self._started = True
            for worker in self.workers:
                worker.start()

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    def release_due(self) -> None:
        """The backstop of the workers' own release and failover (a periodic job): due scheduled messages are
        queued, messages whose validity passed expire, even while no modem is online; queued messages of groups
        with no modem online (here or on another box) move to their fallback groups; multi-part messages
        stranded on a modem that stopped sending fail (`modem_gone`)."""
        released, _ = self._store.outbox.release_due(self._clock())
        self._store.outbox.fail_stranded(self._clock(), self._stranded_after_s)
        if self._store.outbox.fail_over(self._clock()) or released:
            self.wake()

    def release_expired_claims(self) -> None:
        """The lease sweep (a periodic job on every box): claims whose lease passed go back to the queue,
        a part that was with the modem becomes `unknown` and is never re-sent."""
        requeued, unknown, deliveries = self._store.outbox.release_expired(self._clock())
        if requeued or unknown or deliveries:
            log.warning("expired leases released: %d messages requeued, %d unknown, %d webhook deliveries due",
                        requeued, unknown, deliveries)
        if requeued:
            self.wake()

    def at_log(self, name: str, limit: int) -> list[AtLine]:
        return self.worker(name).at_log.lines(limit)

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
