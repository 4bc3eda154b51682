"""What a modem keeps across power cycles (storage, what it sent, its identity) and what one power-on
session sets up (echo, +CMEE, +CMGF, +CNMI, ...). The session is reset on replug; the state is not."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import deque
from typing import Callable
from dataclasses import dataclass, field

from .messages import SentSms
from .profiles import Profile
from .storage import SmsStorage

DEFAULT_SMSC = "+447785016005"
HISTORY_LIMIT = 100_000  # sent messages and commands kept for tests and benchmarks


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def derive_identity(profile: Profile, seed: object, link: str) -> tuple[str, str]:
    """(IMEI, IMSI): stable for the same seed and link, distinct between modems on different links."""
    digest = hashlib.sha256(f"{profile.name}|{seed}|{link}".encode()).hexdigest()
    serial = str(int(digest[:12], 16))[-6:].zfill(6)
    imei = profile.tac + serial
    imsi = "23410" + str(int(digest[12:28], 16))[-10:].zfill(10)
    return imei + _luhn_digit(imei), imsi


UNDELIVERED = 0x41  # TP-ST: permanent error, incompatible destination


@dataclass
class Session:
    """Settings of one power-on; AT commands change them, a replug resets them."""

    echo: bool = True
    verbose: bool = True  # ATV1: result codes as words ("OK"); ATV0: as digits ("0")
    quiet: bool = False  # ATQ1: no result codes at all
    cmee: int = 0
    cmgf: int = 0
    cscs: str = "IRA"
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)
    cpms: tuple[str, str, str] = ("SM", "SM", "SM")   # read/delete, write/send, receive
    cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    creg_n: int = 0
    cgreg_n: int = 0
    cereg_n: int = 0
    cireg_n: int = 0
    cpbs: str = "SM"
    cops_format: int = 0
    cfun: int = 1
    pin_ok: bool = True
    ussd_enabled: bool = True
    settings: dict[str, str] = field(default_factory=dict)   # accepted-and-remembered (+CLIP, +CRC, ...)

    def reset_profile(self, saved: dict[str, bool]) -> None:
        """ATZ: back to the stored profile (echo, result code format; plain ERROR)."""
        self.echo, self.verbose, self.quiet = saved["echo"], saved["verbose"], saved["quiet"]
        self.cmee = 0


@dataclass
class ModemState:
    """Shared between the modem thread and test threads; every mutable field is guarded by `lock`."""

    profile: Profile
    own_number: str
    operator: str
    rssi: int
    registration: int
    pin: str | None
    imei: str
    imsi: str
    latency_ms: int
    report_delay_ms: int
    report_status: int
    fail_rate: float
    rng: random.Random
    undelivered_rate: float = 0.0  # the share of status reports that say "not delivered" (TP-ST 0x41)
    smsc: str = DEFAULT_SMSC
    storage: SmsStorage = field(default_factory=SmsStorage)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # bounded, so a long-running demo modem does not grow without end
    sent: deque[SentSms] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    sent_listeners: list[Callable[[SentSms], None]] = field(default_factory=list)  # fake_modem.network
    commands: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    hung: bool = False
    next_reference: int = 0
    fail_next: int = 0
    fail_next_error: str = "+CMS ERROR: 500"
    line_noise: bool = False  # answers framed with bare LF, a stray byte before it and a NUL after it
    reply_rate: float = 0.0  # the share of sent messages whose recipient answers (the demo's traffic)
    lose_ok_next: int = 0  # submits whose +CMGS goes out and whose final OK is lost on the line
    sim: str = "ready"  # "ready", "absent" (+CME ERROR: 10) or "puk" (PIN blocked: +CPIN: SIM PUK)
    puk: str = "12345678"
    ussd_replies: dict[str, str | None] = field(default_factory=dict)  # overrides; None: the network never answers
    ringing: str | None = None  # the caller's number while an incoming call rings (until ATH / AT+CHUP)
    charset: str = "IRA"  # +CSCS at power-on (firmwares differ: IRA, GSM, UCS2)
    ims_registered: bool = True  # SMS over IMS (what an LTE-only modem needs): +CIREG
    # what AT&W stored: ATZ and every power-on start from it
    saved_profile: dict[str, bool] = field(default_factory=lambda: {"echo": True, "verbose": True, "quiet": False})

    def record_command(self, line: str) -> None:
        with self.lock:
            self.commands.append((time.monotonic(), line))

    def take_reference(self) -> int:
        with self.lock:
            mr = self.next_reference
            self.next_reference = (mr + 1) % 256
            return mr

    def take_lost_ok(self) -> bool:
        """Whether this accepted submit's final OK is lost (lose_final_ok)."""
        with self.lock:
            if self.lose_ok_next > 0:
                self.lose_ok_next -= 1
                return True
            return False

    def report_status_now(self) -> int:
        """The TP-ST of the next status report: `report_status`, or at `undelivered_rate` a permanent failure."""
        with self.lock:
            if self.undelivered_rate > 0 and self.rng.random() < self.undelivered_rate:
                return UNDELIVERED
            return self.report_status

    def take_failure(self) -> str | None:
        """The error this submit must answer, if any (set_fail_next first, then fail_rate)."""
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_next_error
            if self.fail_rate > 0 and self.rng.random() < self.fail_rate:
                return "+CMS ERROR: 500"
            return None

    def record_sent(self, sms: SentSms) -> None:
        with self.lock:
            self.sent.append(sms)
            listeners = list(self.sent_listeners)
        for listener in listeners:  # outside the lock: a network hands the SMS to another modem
            listener(sms)


def domain_registration(state: ModemState, session: Session, name: str) -> int:
    """<stat> of +CREG (circuit-switched: 0 on an LTE-only modem), +CGREG or +CEREG (packet-switched)."""
    if name == "+CREG" and not state.profile.circuit_switched:
        return 0
    return network_registration(state, session)


def can_send_sms(state: ModemState, session: Session) -> bool:
    """Registered, and with a way to send SMS: the CS domain (or SGs), else SMS over IMS."""
    return (network_registration(state, session) in (1, 5)
            and (state.profile.circuit_switched or state.ims_registered))


def network_registration(state: ModemState, session: Session) -> int:
    """+CREG <stat> as the network sees this modem now (0 while the SIM is locked or the radio off)."""
    if not session.pin_ok or session.cfun != 1:
        return 0
    return state.registration
