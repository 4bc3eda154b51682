"""Finding modems by themselves: probe serial devices with a short AT exchange, tell which port of a
multi-port stick answers, and keep the pool in step with what is plugged in (`Discoverer`).

A USB modem shows up as several ttys (Huawei, ZTE, Quectel and SIMCom sticks expose 2 to 5 interfaces);
only some answer AT, and the same modem answers on more than one. Ports that answer with the same IMEI are
one modem; of those the vendor's usual AT interface is chosen (`PREFERRED_INTERFACE`), else the lowest.
A modem is keyed by its stable `/dev/serial/by-id/…` path when udev made one (else the path as found) and
named after its IMEI, so the name survives re-plugging into another USB port.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Literal, Protocol, Sequence

from gateway.config import ModemSettings
from gateway.errors import ModemTimeout, ModemUnavailable, PortBusy
from gateway.modem import replies
from gateway.modem.atprobe import AtProbe

log = logging.getLogger(__name__)

DEFAULT_PATTERNS = ("/dev/ttyUSB*", "/dev/ttyACM*", "/dev/serial/by-id/*")
PROBE_TIMEOUT_S = 0.5
# The interface that takes AT commands and gets the SMS URCs, per vendor (by-id names end "-ifNN-port0").
PREFERRED_INTERFACE = {"quectel": 2, "simcom": 2, "huawei": 0, "zte": 2}
_INTERFACE = re.compile(r"-if(\d+)(?:-port\d+)?$")


@dataclass(frozen=True)
class Probe:
    """What one serial device said to a short AT exchange."""

    path: str  # as given or found (a by-id path when there is one)
    status: Literal["modem", "silent", "busy", "error"]
    detail: str = ""
    manufacturer: str = ""
    model: str = ""
    imei: str = ""

    @property
    def interface(self) -> int | None:
        match = _INTERFACE.search(self.path)
        return int(match.group(1)) if match else None


@dataclass(frozen=True)
class FoundModem:
    """One modem: the port to use, and the other ports of the same device that also answer AT."""

    name: str
    port: str
    manufacturer: str
    model: str
    imei: str
    also_answering: tuple[str, ...] = ()

    def settings(self) -> ModemSettings:
        return ModemSettings(name=self.name, port=self.port)

    def toml(self) -> str:
        lines = [f"# {self.manufacturer} {self.model}, IMEI {self.imei}".rstrip()]
        if self.also_answering:
            lines.append(f"# also answers AT: {', '.join(self.also_answering)}")
        lines += ["[[modems]]", f'name = "{self.name}"', f'port = "{self.port}"', "baudrate = 115200"]
        return "\n".join(lines)


def candidate_ports(patterns: Iterable[str] = DEFAULT_PATTERNS) -> list[str]:
    """Every device the patterns match, one path per device: the by-id (or other symlink) name when there is
    one, since it is stable across reboots; sorted, so the output is the same each time."""
    by_device: dict[str, str] = {}
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]:
            if not os.path.exists(path):
                continue
            device = os.path.realpath(path)
            if device not in by_device or (os.path.islink(path) and not os.path.islink(by_device[device])):
                by_device[device] = path
    return sorted(by_device.values())


def split_patterns(text: str) -> list[str]:
    """`pool.discover_paths` ("glob,glob,…") as a list."""
    return [p.strip() for p in text.split(",") if p.strip()]


def probe(path: str, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """Open `path` exclusively, see whether it answers AT and who it is."""
    try:
        with AtProbe(path, timeout_s=timeout_s) as at:
            if not at.wake():
                return Probe(path, "silent", "no answer to AT")
            manufacturer = _info(at, "AT+CGMI", "+CGMI:")
            model = _info(at, "AT+CGMM", "+CGMM:")
            imei = _info(at, "AT+CGSN", "+CGSN:")
            return Probe(path, "modem", manufacturer=manufacturer, model=model, imei=imei)
    except PortBusy as exc:
        return Probe(path, "busy", exc.message)
    except ModemTimeout as exc:
        return Probe(path, "silent", exc.message)
    except ModemUnavailable as exc:
        return Probe(path, "error", exc.message)


def _info(at: AtProbe, command: str, prefix: str) -> str:
    reply = at.command(command)
    return replies.parse_info(reply.lines, prefix) if reply.ok else ""


def probe_all(paths: Sequence[str], timeout_s: float = PROBE_TIMEOUT_S) -> list[Probe]:
    """Probe several ports at once (silent ones cost a timeout each); results in the order of `paths`."""
    if not paths:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(paths)), thread_name_prefix="probe") as pool:
        return list(pool.map(lambda p: probe(p, timeout_s), paths))


def group_modems(probes: Iterable[Probe]) -> list[FoundModem]:
    """Answering ports with the same IMEI are one modem; pick its AT port (see PREFERRED_INTERFACE)."""
    groups: dict[str, list[Probe]] = {}
    for p in probes:
        if p.status == "modem":
            groups.setdefault(p.imei or p.path, []).append(p)
    found = []
    for key, ports in groups.items():
        chosen = min(ports, key=lambda p: _preference(p))
        others = tuple(p.path for p in ports if p is not chosen)
        found.append(FoundModem(name=modem_name(chosen), port=chosen.path, manufacturer=chosen.manufacturer,
                                model=chosen.model, imei=chosen.imei, also_answering=others))
    return sorted(found, key=lambda m: m.port)


def _preference(p: Probe) -> tuple[int, int, str]:
    vendor = next((v for v in PREFERRED_INTERFACE if v in p.manufacturer.lower()), None)
    preferred = PREFERRED_INTERFACE.get(vendor) if vendor else None
    interface = p.interface
    return (0 if interface is not None and interface == preferred else 1,
            interface if interface is not None else 99, p.path)


def modem_name(p: Probe) -> str:
    """'<vendor>-<last 6 IMEI digits>' (e.g. 'simcom-123456'): stable wherever the modem is plugged."""
    vendor = re.sub(r"[^a-z0-9]+", "", p.manufacturer.lower().split("_")[0].split()[0] if p.manufacturer else "")
    suffix = p.imei[-6:] if p.imei else re.sub(r"[^A-Za-z0-9]+", "-", os.path.basename(p.path)).strip("-")
    return f"{vendor or 'modem'}-{suffix}"


def scan(patterns: Iterable[str] = DEFAULT_PATTERNS,
         timeout_s: float = PROBE_TIMEOUT_S) -> tuple[list[FoundModem], list[Probe]]:
    """(modems found, every probe) for the devices the patterns match."""
    probes = probe_all(candidate_ports(patterns), timeout_s)
    return group_modems(probes), probes


class PoolWorker(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def modem(self) -> ModemSettings: ...


class Pool(Protocol):
    """What discovery needs of the modem pool (gateway.core.pool.ModemPool)."""

    @property
    def workers(self) -> Sequence[PoolWorker]: ...
    def add(self, modem: ModemSettings) -> object: ...
    def remove(self, name: str) -> object: ...


class Discoverer:
    """Keeps the pool in step with what is plugged in: every `interval_s` it probes the ports no worker
    owns, adds a worker for each new modem, and removes the workers it added whose port vanished. Modems
    from the config are never removed (their workers reconnect when the port comes back)."""

    def __init__(self, pool: Pool, patterns: Sequence[str], interval_s: float, *, configured: Iterable[str] = (),
                 timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self._pool = pool
        self._patterns = tuple(patterns)
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._configured = set(configured)
        self.added: dict[str, str] = {}  # name -> port, the modems this discoverer added
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="discovery", daemon=True)

    def start(self) -> "Discoverer":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_once()
            except Exception:  # this thread's owner loop: log and try again next round
                log.exception("discovery round failed")
            if self._stop.wait(self._interval_s):
                return

    def scan_once(self) -> None:
        for name, port in list(self.added.items()):
            if not os.path.exists(port):
                log.info("discovery: %s vanished from %s", name, port)
                self._pool.remove(name)
                del self.added[name]
        owned = {os.path.realpath(w.modem.port) for w in self._pool.workers}
        fresh = [p for p in candidate_ports(self._patterns) if os.path.realpath(p) not in owned]
        names = {w.name for w in self._pool.workers}
        for modem in group_modems(probe_all(fresh, self._timeout_s)):
            if modem.name in names or modem.name in self._configured:
                continue
            log.info("discovery: %s %s (IMEI %s) on %s", modem.manufacturer, modem.model, modem.imei, modem.port)
            self._pool.add(modem.settings())
            self.added[modem.name] = modem.port
