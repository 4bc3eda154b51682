"""`smsgw doctor`: check the box and explain, one finding per check, each problem with its fix in one line.

Per configured modem (over a short exclusive AT conversation, `AtProbe`): the port opens, AT answers, a
SIM is in, its PIN/PUK state, network registration, signal, the SMS centre number, storage, PDU mode.
When the running gateway holds the port, the doctor does not fight it for the port: it says so and reads
the modem's last known state from the database. Then the database, disk space, the clock and the API.
`fail` findings make the command exit non-zero; `warn` ones (roaming, weak signal, little disk) do not.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Literal, Protocol

from sqlalchemy.engine import make_url

from gateway.config import ModemSettings, Settings
from gateway.errors import ModemTimeout, ModemUnavailable, PortBusy
from gateway.modem import replies
from gateway.modem.atprobe import AtProbe
from gateway.modem.driver import Registration
from gateway.values import ModemState

if TYPE_CHECKING:
    from gateway.store import Store

Level = Literal["ok", "warn", "fail", "info"]
MIN_YEAR = 2024  # a clock before this was never set (a Pi has no RTC)
DISK_FAIL_BYTES = 50 * 1024 * 1024
DISK_WARN_BYTES = 500 * 1024 * 1024
WEAK_RSSI = 10  # below about -93 dBm sends start failing
CLOCK_SKEW = timedelta(minutes=5)


class RecordedModem(Protocol):
    """A modem's last known state as the running gateway recorded it in the database."""

    @property
    def state(self) -> ModemState: ...
    @property
    def operator(self) -> str | None: ...
    @property
    def registration(self) -> str | None: ...
    @property
    def signal_dbm(self) -> int | None: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime: ...


@dataclass(frozen=True)
class Finding:
    subject: str  # "modem1", "database", "disk", "clock", "api"
    check: str  # "port", "at", "sim", "network", "signal", "smsc", "storage", "pdu", ...
    level: Level
    detail: str
    fix: str | None = None

    def render(self) -> str:
        text = f"{self.level.upper():4}  {self.subject}: {self.detail}"
        return text + (f"\n      fix: {self.fix}" if self.fix else "")


def run(settings: Settings, *, clock: Callable[[], datetime], modem_timeout_s: float = 1.0,
        check_api: bool = True) -> list[Finding]:
    """Every check, in the order an engineer in the field would go through them."""
    findings: list[Finding] = []
    store, found = open_database(settings)
    findings += found
    try:
        known = {m.name: m for m in store.modems.list_modems()} if store is not None else {}
        if not settings.modems:
            findings.append(Finding("modems", "config", "fail", "no [[modems]] configured",
                                    "run `smsgw modems scan` and paste its [[modems]] blocks into the config"))
        for modem in settings.modems:
            findings += check_modem(modem, known.get(modem.name), timeout_s=modem_timeout_s)
        findings += check_clock(clock(), known.values())
    finally:
        if store is not None:
            store.close()
    findings += check_disk(database_dir(settings))
    if check_api:
        findings += check_api_reachable(settings)
    return findings


def exit_code(findings: list[Finding]) -> int:
    return 1 if any(f.level == "fail" for f in findings) else 0


# --- modems -------------------------------------------------------------------------------------------------


def check_modem(modem: ModemSettings, last_known: RecordedModem | None = None, *,
                timeout_s: float = 1.0) -> list[Finding]:
    name = modem.name
    if not os.path.exists(modem.port):
        return [Finding(name, "port", "fail", f"{modem.port} does not exist (unplugged, or a different name)",
                        "plug the modem in, or run `smsgw modems scan` and put the port it prints in [[modems]]")]
    try:
        at = AtProbe(modem.port, baudrate=modem.baudrate, timeout_s=timeout_s)
    except PortBusy:
        return [Finding(name, "port", "info", f"{modem.port} is held by another process (the running gateway): "
                                              "showing its last known state from the database")
                ] + from_database(name, last_known)
    except ModemUnavailable as exc:
        return [Finding(name, "port", "fail", exc.message,
                        "give the user the dialout group (usermod -aG dialout smsgw), or check the cable")]
    with at:
        findings = [Finding(name, "port", "ok", f"{modem.port} opens")]
        try:
            findings += _converse(modem, at)
        except ModemTimeout as exc:
            findings.append(Finding(name, "at", "fail", f"the modem stopped answering: {exc.message}",
                                    "power-cycle the modem (unplug it for 10 s)"))
        except ModemUnavailable as exc:
            findings.append(Finding(name, "port", "fail", exc.message, "check the cable and the USB power"))
    return findings


def _converse(modem: ModemSettings, at: AtProbe) -> list[Finding]:
    name = modem.name
    if not at.wake():
        return [Finding(name, "at", "fail", "no answer to AT",
                        "power-cycle the modem; if it persists, this is not the stick's AT port: "
                        "run `smsgw modems scan`")]
    out = [Finding(name, "at", "ok", "answers AT")]
    sim = _sim(modem, at)
    out.append(sim)
    if sim.level == "fail":
        return out  # network, SMS centre and storage all need the SIM
    out.append(_registration(name, at))
    out.append(_radio(name, at))
    out.append(_signal(name, at))
    out.append(_smsc(name, at))
    out.append(_storage(name, at))
    out.append(_pdu_mode(name, at))
    return out


def _sim(modem: ModemSettings, at: AtProbe) -> Finding:
    name = modem.name
    reply = at.command("AT+CPIN?")
    error = replies.parse_error_line(reply.final)
    if error == ("CME", 10):
        return Finding(name, "sim", "fail", "no SIM card", "power the modem off, insert a SIM, power it on")
    if error in (("CME", 13), ("CME", 15)):
        return Finding(name, "sim", "fail", f"SIM failure ({reply.final})",
                       "reseat the SIM and clean its contacts; try it in a phone")
    line = reply.line("+CPIN:")
    if line is None:
        return Finding(name, "sim", "fail", f"no SIM state (AT+CPIN? answered {reply.final})",
                       "reseat the SIM; check it works in a phone")
    code = replies.parse_cpin(line)
    if code == "READY":
        return Finding(name, "sim", "ok", "SIM present and unlocked")
    if code == "SIM PIN":
        if modem.pin:
            return Finding(name, "sim", "warn", "the SIM asks for its PIN; the gateway enters the configured one")
        return Finding(name, "sim", "fail", "the SIM needs its PIN and none is configured",
                       f'set pin = "<PIN>" in the [[modems]] section of {name} (or disable the PIN in a phone)')
    if code == "SIM PUK":
        return Finding(name, "sim", "fail", "the SIM is blocked (PUK needed: the PIN was wrong 3 times)",
                       'with the gateway stopped send AT+CPIN="<PUK>","<new PIN>" (PUK from the SIM card), '
                       "then set that pin in [[modems]]")
    return Finding(name, "sim", "fail", f"the SIM asks for {code}", "unlock the SIM in a phone")


def _domain(at: AtProbe, command: str) -> Registration:
    """The registration +CREG? / +CEREG? reports ("unknown" when the modem has no such command)."""
    line = at.command(command).line(command[2:-1] + ":")
    try:
        return replies.parse_registration(line) if line else "unknown"
    except ValueError:
        return "unknown"


def _registration(name: str, at: AtProbe) -> Finding:
    state = _domain(at, "AT+CREG?")
    if state not in REGISTERED:
        lte = _domain(at, "AT+CEREG?")  # an LTE-only modem registers there alone
        state = lte if lte in REGISTERED else state
    operator = _operator(at)
    on = f" on {operator}" if operator else ""
    if state == "home":
        return Finding(name, "network", "ok", f"registered{on} (home)")
    if state == "roaming":
        return Finding(name, "network", "warn", f"registered{on}, roaming",
                       "check the SIM's roaming tariff; SMS may cost more or be barred")
    if state == "denied":
        return Finding(name, "network", "fail", "the network denied registration",
                       "the SIM is barred, expired or not activated: ask the operator")
    return Finding(name, "network", "fail", f"not registered ({state})",
                   "check the antenna and coverage; a modem needs up to a minute after power-on")


def _radio(name: str, at: AtProbe) -> Finding:
    """The radio technology in use, and whether SMS works on this registration: an LTE-only registration
    carries SMS only over IMS (or SGs, which shows as a circuit-switched registration) — the trap that a
    2G/3G shutdown springs on modems and SIMs without SMS over IMS."""
    line = at.command("AT+COPS?").line("+COPS:")
    act = replies.parse_access_technology(line) if line else None
    radio = ACCESS_TECHNOLOGIES.get(act, "unknown radio") if act is not None else "unknown radio"
    if _domain(at, "AT+CREG?") in REGISTERED:
        return Finding(name, "radio", "ok", f"{radio}: SMS over the circuit-switched domain")
    if _domain(at, "AT+CEREG?") not in REGISTERED:
        return Finding(name, "radio", "info", f"{radio}: not registered, SMS not possible yet")
    ims = at.command("AT+CIREG?").line("+CIREG:")
    if ims is not None and replies.parse_cireg(ims):
        return Finding(name, "radio", "ok", f"{radio} only: SMS over IMS")
    fix = ("ask the operator to enable SMS over IMS (VoLTE) for this SIM and turn IMS on in the modem (Quectel: "
           'AT+QCFG="ims",1); or allow 2G/3G where the network still has them')
    if ims is None:
        return Finding(name, "radio", "warn", f"{radio} only, and the modem cannot say whether SMS over IMS works",
                       fix)
    return Finding(name, "radio", "fail", f"{radio} only, without SMS over IMS: no SMS can be sent or received",
                   fix)


def _operator(at: AtProbe) -> str | None:
    line = at.command("AT+COPS?").line("+COPS:")
    try:
        return replies.parse_operator(line) if line else None
    except ValueError:
        return None


def _signal(name: str, at: AtProbe) -> Finding:
    line = at.command("AT+CSQ").line("+CSQ:")
    rssi, dbm = replies.parse_csq(line) if line else (None, None)
    if rssi is None:
        return Finding(name, "signal", "fail", "no signal", "connect the antenna; move the box or the antenna")
    if rssi < WEAK_RSSI:
        return Finding(name, "signal", "warn", f"weak signal ({dbm} dBm)",
                       "use an external antenna or move it near a window")
    return Finding(name, "signal", "ok", f"signal {dbm} dBm")


def _smsc(name: str, at: AtProbe) -> Finding:
    reply = at.command("AT+CSCA?")
    line = reply.line("+CSCA:")
    number = replies.parse_csca(line) if line else None
    if number is None:
        return Finding(name, "smsc", "fail", "no SMS centre number on the SIM: sends will fail",
                       'set it once: AT+CSCA="+<number>",145 (the operator publishes its SMS centre number)')
    return Finding(name, "smsc", "ok", f"SMS centre {number}")


def _storage(name: str, at: AtProbe) -> Finding:
    line = at.command("AT+CPMS?").line("+CPMS:")
    usage = replies.parse_cpms_usage(line) if line else []
    if not usage:
        return Finding(name, "storage", "warn", "storage use unknown (AT+CPMS? gave nothing usable)")
    full = [(m, used, total) for m, used, total in dict.fromkeys(usage) if total and used >= total]
    shown = ", ".join(f"{m} {used}/{total}" for m, used, total in dict.fromkeys(usage))
    if full:
        return Finding(name, "storage", "fail", f"SMS storage full ({shown}): new SMS are refused",
                       "start the gateway (it moves stored SMS to the inbox), or delete them all: AT+CMGD=1,4")
    return Finding(name, "storage", "ok", f"storage {shown}")


def _pdu_mode(name: str, at: AtProbe) -> Finding:
    reply = at.command("AT+CMGF=0")
    if reply.ok:
        return Finding(name, "pdu", "ok", "PDU mode supported")
    return Finding(name, "pdu", "fail", f"no PDU mode (AT+CMGF=0 answered {reply.final})",
                   "this modem cannot be used: the gateway sends in PDU mode")


REGISTERED = ("home", "roaming")
ACCESS_TECHNOLOGIES = {0: "GSM (2G)", 1: "GSM (2G)", 2: "UMTS (3G)", 3: "EDGE (2G)", 4: "HSDPA (3G)", 5: "HSUPA (3G)",
                       6: "HSPA (3G)", 7: "LTE (4G)", 8: "EC-GSM-IoT (2G)", 9: "NB-IoT", 10: "LTE (4G, 5G core)",
                       11: "NR (5G)", 12: "NR (5G, LTE core)", 13: "EN-DC (4G/5G)"}  # +COPS <AcT>, TS 27.007 §7.3


def from_database(name: str, modem: RecordedModem | None) -> list[Finding]:
    """The last known state the running gateway recorded for `name`."""
    if modem is None:
        return [Finding(name, "state", "warn", "no state recorded in the database yet",
                        "wait for the gateway to connect the modem, then run the doctor again")]
    seen = f"(recorded {modem.updated_at:%Y-%m-%d %H:%M:%S} UTC)"
    if modem.state == ModemState.ONLINE:
        signal = f", {modem.signal_dbm} dBm" if modem.signal_dbm is not None else ""
        return [Finding(name, "state", "ok", f"online on {modem.operator or 'the network'}{signal} {seen}")]
    if modem.state == ModemState.PIN_NEEDED:
        return [Finding(name, "state", "fail", f"needs its PIN/PUK {seen}: {modem.last_error or ''}".rstrip(": "),
                        f'set pin = "<PIN>" for {name} in the config and restart (or unlock the PUK first)')]
    if modem.state in (ModemState.NOT_REGISTERED, ModemState.SEARCHING):
        return [Finding(name, "state", "fail", f"not registered ({modem.registration}) {seen}",
                        "check the antenna, coverage and that the SIM is active")]
    if modem.state == ModemState.NO_SIM:
        return [Finding(name, "state", "fail", f"no SIM {seen}: {modem.last_error or ''}".rstrip(": "),
                        "seat the SIM (contacts down, the right way round) or try it in a phone")]
    if modem.state in (ModemState.CONNECTING, ModemState.SENDING):
        return [Finding(name, "state", "info", f"{modem.state.value} {seen}")]
    return [Finding(name, "state", "fail", f"offline {seen}: {modem.last_error or 'no error recorded'}",
                    "stop the gateway and run the doctor again to check the modem itself")]


# --- the box --------------------------------------------------------------------------------------------------


def open_database(settings: Settings) -> tuple[Store | None, list[Finding]]:
    """(Store or None, findings): reachable, and its schema at the latest revision (nothing is changed)."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from gateway.store import Store
    from gateway.store.migrate import MIGRATIONS_DIR

    url = settings.database.url
    shown = make_url(url).render_as_string(hide_password=True)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None, [Finding("database", "database", "fail", f"{path} does not exist",
                              "run `smsgw db upgrade` (or start the gateway once) to create it")]
    try:
        store = Store.from_url(url, settings.database.busy_timeout_ms, key_file=settings.security.key_file)
        with store.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        head = ScriptDirectory.from_config(config).get_current_head()
    except Exception as exc:  # any driver error: the finding is the point
        return None, [Finding("database", "database", "fail", f"{shown}: {exc}",
                              "check [database] url, that the server runs and the credentials")]
    if current != head:
        store.close()  # its tables are not what this version reads
        return None, [Finding("database", "database", "fail", f"schema at {current or 'nothing'}, latest {head}",
                               "run `smsgw db upgrade`")]
    return store, [Finding("database", "database", "ok", f"{shown} reachable, schema {current}")]


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def database_dir(settings: Settings) -> Path:
    path = sqlite_path(settings.database.url)
    if path is not None:
        return path.parent if path.parent.exists() else Path.cwd()
    return Path("/var/lib/smsgw") if Path("/var/lib/smsgw").exists() else Path.cwd()


def check_disk(directory: Path) -> list[Finding]:
    usage = shutil.disk_usage(directory)
    free_mb = usage.free // (1024 * 1024)
    if usage.free < DISK_FAIL_BYTES:
        return [Finding("disk", "disk", "fail", f"only {free_mb} MB free on {directory}",
                        "free space (journalctl --vacuum-size=50M, old logs) or use a larger SD card")]
    if usage.free < DISK_WARN_BYTES:
        return [Finding("disk", "disk", "warn", f"{free_mb} MB free on {directory}",
                        "free space soon: the database stops taking messages when the disk is full")]
    return [Finding("disk", "disk", "ok", f"{free_mb} MB free on {directory}")]


def check_clock(now: datetime, modems: Iterable[RecordedModem] = ()) -> list[Finding]:
    """The clock was set (a Pi has no RTC) and did not go back behind what the database recorded."""
    if now.year < MIN_YEAR:
        return [Finding("clock", "clock", "fail", f"the clock says {now:%Y-%m-%d}: it was never set",
                        "enable time sync: timedatectl set-ntp true (and give the box a route to an NTP server)")]
    latest = max((m.updated_at for m in modems if m.updated_at), default=None)
    if latest is not None and latest - now > CLOCK_SKEW:
        return [Finding("clock", "clock", "fail", f"the clock ({now:%Y-%m-%d %H:%M}) is behind times already "
                                                  f"recorded ({latest:%Y-%m-%d %H:%M})",
                        "enable time sync: timedatectl set-ntp true; check the timezone is UTC-correct")]
    return [Finding("clock", "clock", "ok", f"{now:%Y-%m-%d %H:%M:%S} UTC")]


def check_api_reachable(settings: Settings, timeout_s: float = 2.0) -> list[Finding]:
    import requests

    host = settings.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "*") else "::1" if host == "::" else host
    url = f"http://{host if ':' not in host else f'[{host}]'}:{settings.server.port}/healthz"
    session = requests.Session()
    session.trust_env = False  # the box's own API, never through an http_proxy set for the rest of the LAN
    try:
        with session:
            response = session.get(url, timeout=timeout_s)
    except requests.RequestException as exc:
        return [Finding("api", "api", "fail", f"{url} not reachable ({type(exc).__name__})",
                        "start the gateway: systemctl start smsgw (then: journalctl -u smsgw)")]
    if response.status_code >= 500:
        return [Finding("api", "api", "fail", f"{url} answered {response.status_code}",
                        "see journalctl -u smsgw for the error")]
    return [Finding("api", "api", "ok", f"{url} answers ({response.status_code})")]


def render(findings: list[Finding]) -> str:
    fails = sum(f.level == "fail" for f in findings)
    warns = sum(f.level == "warn" for f in findings)
    summary = ("all checks passed" if not fails and not warns else
               f"{fails} problem(s), {warns} warning(s)")
    return "\n".join([f.render() for f in findings] + [summary])



