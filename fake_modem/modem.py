"""FakeModem: a GSM modem on a pseudo-terminal, with a test API (inject, observe, misbehave).

One thread owns the pty master: it reads with select(), feeds the AT engine, writes its answers,
emits queued URCs between commands and runs timers (send latency, status reports). Other threads
talk to it through thread-safe queues and a wake-up pipe; they never write to the port themselves.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import random
import select
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Callable

from . import pdu
from .basic_commands import HANDLERS as BASIC
from .basic_commands import VENDOR, creg_line
from .engine import AtEngine, Deferred, Handler, frame, frame_final
from .messages import SentSms, StoredSms
from .port import PtyPort
from .profiles import Profile, get_profile
from .sms_commands import HANDLERS as SMS
from .sms_commands import route_incoming, route_status_report
from .state import ModemState, Session, derive_identity
from .storage import DEFAULT_CAPACITY, SmsStorage

log = logging.getLogger(__name__)


def handlers_for(profile: Profile) -> dict[str, Handler]:
    vendor = {name: fn for name, fn in VENDOR.items() if name in profile.extra_commands}
    return {**BASIC, **SMS, **vendor}


class FakeModem:
    """A modem on a pty, linked at `link`. See the package docstring for the API."""

    def __init__(self, link: str, profile: str = "simcom", latency_ms: int = 0, fail_rate: float = 0.0,
                 seed: int | None = None, pin: str | None = None, own_number: str = "+447911000001",
                 operator: str = "Fake Telecom", rssi: int = 20, registration: int = 1,
                 report_delay_ms: int = 50, report_status: int = 0, sim: str = "ready",
                 smsc: str | None = None, storage_capacity: dict[str, int] | None = None,
                 charset: str = "IRA", reply_rate: float = 0.0) -> None:
        prof = get_profile(profile)
        imei, imsi = derive_identity(prof, seed, link)
        self.link = link
        self._state = ModemState(
            profile=prof, own_number=own_number, operator=operator, rssi=rssi,
            registration=registration, pin=pin, imei=imei, imsi=imsi, latency_ms=latency_ms,
            report_delay_ms=report_delay_ms, report_status=report_status, fail_rate=fail_rate,
            rng=random.Random(seed), sim=sim)
        if sim not in ("ready", "absent", "puk"):
            raise ValueError(f"sim must be 'ready', 'absent' or 'puk', not {sim!r}")
        self._state.charset = charset
        self._state.reply_rate = reply_rate
        if smsc is not None:  # "" is a SIM whose SMS centre number was never set
            self._state.smsc = smsc
        if storage_capacity is not None:
            self._state.storage = SmsStorage({**DEFAULT_CAPACITY, **storage_capacity})
        self._cond = threading.Condition(self._state.lock)
        self._handlers = handlers_for(prof)
        self._session = self._new_session()
        self._urcs: deque[bytes] = deque()
        self._emits: deque[bytes] = deque()
        self._port: PtyPort | None = None
        self._engine: AtEngine | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r = self._wake_w = -1
        self._wake_lock = threading.Lock()          # guards _wake_w against close during a write
        self._timers: list[tuple[float, int, Callable[[], None]]] = []   # modem thread only
        self._timer_seq = itertools.count()
        self._concat_refs = itertools.count(self._state.rng.randrange(1, 200))

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FakeModem":
        if self._thread is None:
            self._plug()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread, close the pty, remove the link. Idempotent."""
        self._unplug(timeout_s)
        if self._port is not None:
            self._port.remove_link()
            self._port = None

    def __enter__(self) -> "FakeModem":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unplug(self) -> None:
        """Close the master: the other side gets an I/O error; the link stays, dangling."""
        self._unplug(5.0)

    def restart(self, banners: bool = True) -> None:
        """Restart in place (a brown-out or firmware watchdog on a UART that stays open): every setting is
        forgotten (echo on, text mode, no CNMI), a PIN-protected SIM wants its PIN again, and the boot banners
        come out as its dialect prints them (unless `banners` is false: lost on the line)."""
        with self._state.lock:
            self._session = self._new_session()
            if self._engine is not None:
                self._engine.restart(self._session)
            self._urcs.clear()
        sim = "SIM PIN" if not self._session.pin_ok and self._state.sim == "ready" else "READY"
        if banners:
            self.emit(b"".join(f"\r\n{line.format(sim=sim)}\r\n".encode()
                               for line in self._state.profile.boot_banners))

    def replug(self) -> None:
        """Power back on at the same link: new pty, fresh session, storage and history kept."""
        self._unplug(5.0)
        self._session = self._new_session()
        self._urcs.clear()
        self._plug()

    @property
    def device(self) -> str | None:
        """The pty slave the link points at (None before start)."""
        return self._port.device if self._port else None

    def _new_session(self) -> Session:
        session = Session(pin_ok=self._state.pin is None and self._state.sim == "ready",
                          ussd_enabled=not self._state.profile.ussd_needs_mode)
        session.reset_profile(self._state.saved_profile)
        session.cscs = self._state.charset
        return session

    def _plug(self) -> None:
        self._port = PtyPort(self.link)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._stop.clear()
        engine = self._engine = AtEngine(self._state, self._session, self, self._handlers)
        self._thread = threading.Thread(target=self._run, args=(engine, self._port.master_fd),
                                        name=f"fake-modem:{os.path.basename(self.link)}", daemon=True)
        self._thread.start()

    def _unplug(self, timeout_s: float) -> None:
        if self._thread is not None:
            self._stop.set()
            self._wake()
            self._thread.join(timeout_s)
            self._thread = None
            with self._wake_lock:
                for fd in (self._wake_r, self._wake_w):
                    os.close(fd)
                self._wake_r = self._wake_w = -1
        if self._port is not None:
            self._port.close()

    # --- observing -----------------------------------------------------------------------------
    @property
    def sent(self) -> list[SentSms]:
        with self._state.lock:
            return list(self._state.sent)

    @property
    def commands(self) -> list[str]:
        with self._state.lock:
            return [line for _, line in self._state.commands]

    @property
    def timed_commands(self) -> list[tuple[float, str]]:
        """(time.monotonic() when it arrived, command line) for every command received."""
        with self._state.lock:
            return list(self._state.commands)

    @property
    def imei(self) -> str:
        return self._state.imei

    def stored(self, memory: str | None = None) -> dict[int, StoredSms]:
        """Storage slots of `memory` (default: where incoming SMS go now, +CPMS <mem3>)."""
        return self._state.storage.items(memory or self._session.cpms[2])

    def wait_for(self, predicate: Callable[["FakeModem"], bool], timeout_s: float) -> bool:
        """Block until `predicate(self)` is true (re-checked whenever the modem does something)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout_s)

    # --- the network side --------------------------------------------------------------------
    def inject_sms(self, sender: str, text: str, *, parts_order: list[int] | None = None,
                   concat_ref: int | None = None, silent: bool = False) -> list[int]:
        """An SMS arrives from `sender`: stored and announced (+CMTI) per part. Returns the indexes."""
        pdus = pdu.deliver_pdus(sender, text, when=datetime.now(timezone.utc).replace(microsecond=0),
                                smsc=self._state.smsc,
                                concat_ref=next(self._concat_refs) % 255 + 1 if concat_ref is None else concat_ref)
        order = parts_order if parts_order is not None else range(len(pdus))
        indexes = []
        for k in order:
            index = route_incoming(self._state, self._session, self._queue_urc, pdus[k], silent=silent)
            if index is not None:
                indexes.append(index)
        self._changed()
        return indexes

    def inject_pdu(self, pdu_hex: str) -> int | None:
        """An SMS-DELIVER given whole (hex, SMSC field first) arrives: for what inject_sms cannot build, such as
        binary SMS (8-bit data, WAP push). Returns its storage index."""
        index = route_incoming(self._state, self._session, self._queue_urc, pdu_hex.upper())
        self._changed()
        return index

    def inject_sms_silently(self, sender: str, text: str, *, parts_order: list[int] | None = None,
                            concat_ref: int | None = None) -> list[int]:
        """Like inject_sms, but no +CMTI: only a storage sweep finds it."""
        return self.inject_sms(sender, text, parts_order=parts_order, concat_ref=concat_ref, silent=True)

    def send_report(self, reference: int, status: int = 0) -> None:
        """Emit (or store) a status report for the submit this modem answered with `reference`."""
        matches = [s for s in self.sent if s.reference == reference]
        if not matches:
            raise LookupError(f"no sent SMS has reference {reference}")
        route_status_report(self._state, self._session, self._queue_urc, reference, matches[-1].number,
                            status)
        self._changed()

    def set_registration(self, stat: int) -> None:
        with self._state.lock:
            self._state.registration = stat
        self._announce_registration()

    def _announce_registration(self) -> None:
        if self._session.creg_n >= 1:
            self._queue_urc(frame([creg_line(self._state, self._session, with_n=False)]))
        for name, n in (("+CGREG", self._session.cgreg_n), ("+CEREG", self._session.cereg_n)):
            if n >= 1:
                self._queue_urc(frame([creg_line(self._state, self._session, with_n=False, name=name)]))

    def set_ims(self, registered: bool) -> None:
        """Registered for SMS over IMS, or not (what an LTE-only modem needs to send at all)."""
        with self._state.lock:
            self._state.ims_registered = registered
        if self._session.cireg_n >= 1:
            self._queue_urc(frame([f"+CIREGU: {int(registered)}"]))

    def set_radio(self, fun: int) -> None:
        """The radio is switched (AT+CFUN=<fun> from elsewhere: 0 off, 4 flight mode, 1 on) and the modem says so
        with a +CFUN URC; off, it deregisters."""
        with self._state.lock:
            self._session.cfun = fun
        self._queue_urc(frame([f"+CFUN: {fun}"]))
        self._announce_registration()

    def remove_sim(self) -> None:
        """The SIM is pulled out: every SIM command is refused with +CME ERROR: 10, the modem deregisters, and
        it says so as its dialect does (+CPIN: NOT READY, ^SIMST: 255)."""
        with self._state.lock:
            self._state.sim = "absent"
            self._session.pin_ok = False
        self._queue_urc(frame(list(self._state.profile.sim_removed)))
        self._announce_registration()

    def insert_sim(self) -> None:
        """The SIM is put back: ready at once, or asking for its PIN when it has one."""
        with self._state.lock:
            self._state.sim = "ready"
            self._session.pin_ok = self._state.pin is None
            sim = "READY" if self._session.pin_ok else "SIM PIN"
        self._queue_urc(frame([line.format(sim=sim) for line in self._state.profile.sim_inserted]))
        self._announce_registration()

    def set_rssi(self, value: int) -> None:
        with self._state.lock:
            self._state.rssi = value

    @property
    def own_number(self) -> str:
        return self._state.own_number

    def on_sent(self, listener: Callable[[SentSms], None]) -> None:
        """Call `listener(sms)` for each SMS this modem accepts (on its thread; fake_modem.network)."""
        with self._state.lock:
            self._state.sent_listeners.append(listener)

    def set_ussd_reply(self, code: str, reply: str | None) -> None:
        """What the network answers to USSD `code`; None: it never answers (the +CUSD URC never comes)."""
        with self._state.lock:
            self._state.ussd_replies[code] = reply

    def ring(self, caller: str) -> None:
        """An incoming voice call: RING and +CLIP (as after AT+CLIP=1); it rings until ATH or AT+CHUP."""
        with self._state.lock:
            self._state.ringing = caller
        self._queue_urc(b'\r\nRING\r\n\r\n+CLIP: "' + caller.encode() + b'",145,"",0,"",0\r\n')

    @property
    def ringing(self) -> str | None:
        """The caller while a call rings, None once it was hung up."""
        with self._state.lock:
            return self._state.ringing

    # --- misbehaving -----------------------------------------------------------------------------
    def emit(self, raw: bytes) -> None:
        """Write raw bytes to the line now (even in the middle of a command)."""
        self._emits.append(bytes(raw))
        self._wake()

    def hang(self, on: bool) -> None:
        """When on, commands are read (and recorded) but nothing is answered."""
        with self._state.lock:
            self._state.hung = on
        self._wake()

    def line_noise(self, on: bool) -> None:
        """When on, everything the modem answers has bare LF line ends, and a stray byte before each LF and a
        NUL after it, as a noisy UART or a sloppy firmware gives."""
        with self._state.lock:
            self._state.line_noise = on
        self._wake()

    def save_profile(self, *, echo: bool = True, verbose: bool = True, quiet: bool = False) -> None:
        """As if someone had typed `ATE<echo> V<verbose> Q<quiet> &W`: the stored profile that ATZ and every
        power-on load (numeric result codes with verbose=False, none with quiet=True), applied now too."""
        with self._state.lock:
            self._state.saved_profile = {"echo": echo, "verbose": verbose, "quiet": quiet}
            self._session.reset_profile(self._state.saved_profile)

    def lose_final_ok(self, n: int) -> None:
        """The next `n` submits are sent (`+CMGS: <mr>` answered), but their final OK never arrives, as when
        line noise garbles it."""
        with self._state.lock:
            self._state.lose_ok_next = n

    def set_undelivered_rate(self, rate: float) -> None:
        """From now on, this share of the status reports say the SMS was not delivered (TP-ST 0x41)."""
        with self._state.lock:
            self._state.undelivered_rate = rate

    def set_fail_next(self, n: int, error: str = "+CMS ERROR: 500") -> None:
        with self._state.lock:
            self._state.fail_next = n
            self._state.fail_next_error = error

    # --- engine hooks (called on the modem thread or, for URCs, any thread) ------------------------
    def queue_urc(self, data: bytes) -> None:
        self._queue_urc(data)

    def _queue_urc(self, data: bytes) -> None:
        self._urcs.append(data)
        self._wake()

    def schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._timer_seq), action))

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_w >= 0:
                try:
                    os.write(self._wake_w, b"x")
                except BlockingIOError:     # pipe full: the thread is awake anyway
                    pass

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _on_the_line(self, data: bytes) -> bytes:
        return data.replace(b"\r\n", b"\xff\n\x00") if self._state.line_noise else data

    # --- the thread ------------------------------------------------------------------------------
    def _run(self, engine: AtEngine, master: int) -> None:
        self._timers.clear()
        out = bytearray()
        deferred: tuple[float, Deferred] | None = None
        readable = True
        while not self._stop.is_set():
            now = time.monotonic()
            dues = [t[0] for t in self._timers[:1]] + ([deferred[0]] if deferred else [])
            timeout = max(0.0, min(dues) - now) if dues else None
            rlist = [self._wake_r] + ([master] if readable else [])
            r, w, _ = select.select(rlist, [master] if out else [], [], timeout)
            if self._wake_r in r:
                os.read(self._wake_r, 4096)
            if master in r:
                try:
                    data = os.read(master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError:            # hang-up; cannot happen while PtyPort holds the slave
                    data, readable = b"", False
                if data:
                    engine.feed(data)
            while self._emits:
                out += self._emits.popleft()
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                action = heapq.heappop(self._timers)[2]
                try:
                    action()
                except Exception:       # e.g. StorageFull for a status report: log, keep running
                    log.exception("fake modem %s: timer failed", self.link)
            if deferred and deferred[0] <= now:
                out += self._on_the_line(deferred[1].data)
                deferred = None
            if deferred is None:
                try:
                    chunk, later = engine.process()
                except Exception:           # a fake-modem bug: log it, keep the line alive
                    log.exception("fake modem %s: AT engine failed", self.link)
                    chunk, later = frame_final("ERROR"), None
                out += self._on_the_line(chunk)
                if later is not None:
                    deferred = (time.monotonic() + later.delay_s, later)
                elif not engine.in_prompt and not self._state.hung:
                    while self._urcs:
                        out += self._on_the_line(self._urcs.popleft())
            if out:
                try:
                    del out[:os.write(master, out)]
                except BlockingIOError:
                    pass
                except OSError:
                    out.clear()
            self._changed()
