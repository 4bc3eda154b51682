"""systemd's notify protocol (sd_notify) without a dependency, and the watchdog thread that pings it.

`Type=notify`: `notify("READY=1")` once the gateway serves. `WatchdogSec=`: systemd sets $WATCHDOG_USEC and
kills and restarts the service when no `WATCHDOG=1` arrives within it. `Watchdog` pings at half that
interval, but only while `check()` finds nothing wrong (no modem worker stuck, the HTTP server alive): a
wedged process stops pinging and systemd restarts it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable, Mapping

log = logging.getLogger(__name__)


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `message` (e.g. "READY=1") to $NOTIFY_SOCKET; False when not started by systemd (no socket)."""
    environ = os.environ if environ is None else environ
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify %r to %s failed: %s", message, environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """Half of $WATCHDOG_USEC when the watchdog is on for this process ($WATCHDOG_PID, when set, is ours)."""
    environ = os.environ if environ is None else environ
    usec, pid = environ.get("WATCHDOG_USEC"), environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000 / 2


class Watchdog:
    """Pings WATCHDOG=1 every `interval_s` while `check()` returns None (a reason string means unhealthy)."""

    def __init__(self, interval_s: float, check: Callable[[], str | None],
                 environ: Mapping[str, str] | None = None) -> None:
        self.interval_s = interval_s
        self._check = check
        self._environ = os.environ if environ is None else environ
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self.problem: str | None = None

    def start(self) -> "Watchdog":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            try:
                problem = self._check()
            except Exception as exc:  # a failing check is a finding, not the end of the watchdog
                problem = f"health check failed: {exc!r}"
            if problem is None:
                notify("WATCHDOG=1", self._environ)
            elif problem != self.problem:
                log.error("watchdog: not pinging systemd: %s", problem)
            self.problem = problem
            if self._stop.wait(self.interval_s):
                return
