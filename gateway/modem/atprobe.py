"""A short, synchronous AT conversation over pyserial, for tools that look at a modem briefly (`smsgw modems
scan`, `smsgw doctor`), never for the pool. It opens the port exclusively, so it cannot disturb a port the
running gateway holds (that is `PortBusy`), and uses short timeouts, so a silent port costs a second.
"""

from __future__ import annotations

import errno
import re
import time
from dataclasses import dataclass

import serial

from gateway.errors import ModemTimeout, ModemUnavailable, PortBusy
from gateway.modem.holders import busy_message

_FINAL = re.compile(r"^(OK|ERROR|NO CARRIER|COMMAND NOT SUPPORT|\+CM[ES] ERROR:.*)$")
READ_SLICE_S = 0.05


@dataclass(frozen=True)
class AtReply:
    lines: tuple[str, ...]  # information lines, echo removed
    final: str  # OK, ERROR, +CME ERROR: n, ...

    @property
    def ok(self) -> bool:
        return self.final == "OK"

    def line(self, prefix: str) -> str | None:
        return next((ln for ln in self.lines if ln.startswith(prefix)), None)


class AtProbe:
    """`with AtProbe(port) as at: at.command("AT+CSQ")`. Raises PortBusy, ModemUnavailable, ModemTimeout."""

    def __init__(self, port: str, *, baudrate: int = 115200, timeout_s: float = 1.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        try:
            self._serial = serial.Serial(port, baudrate, timeout=READ_SLICE_S, write_timeout=timeout_s,
                                         rtscts=False, dsrdtr=False, exclusive=True)
        except serial.SerialException as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in str(exc):
                raise PortBusy(busy_message(port)) from exc
            raise ModemUnavailable(f"{port}: cannot open: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise ModemUnavailable(f"{port}: cannot open: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self._serial.close()  # idempotent (pyserial)

    def __enter__(self) -> "AtProbe":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wake(self, attempts: int = 2) -> bool:
        """ESC (ends a PDU entry someone left open), then AT until it answers OK; echo off and numeric errors."""
        self._write("\x1b\r")
        self._drain()
        for _ in range(attempts):
            try:
                if self.command("AT").ok:
                    self.command("ATE0")
                    self.command("AT+CMEE=1")
                    return True
            except ModemTimeout:
                continue
        return False

    def command(self, command: str, timeout_s: float | None = None) -> AtReply:
        """Write `command` and read until its final result code (ModemTimeout when none comes)."""
        self._write(command + "\r")
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        buffer = ""
        lines: list[str] = []
        while time.monotonic() < deadline:
            try:
                chunk = self._serial.read(self._serial.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                raise ModemUnavailable(f"{self.port}: {exc}") from exc
            buffer += chunk.decode("latin-1")
            *complete, buffer = re.split(r"\r\n|\r|\n", buffer)
            for line in (ln.strip() for ln in complete):
                if not line or line == command:
                    continue
                if _FINAL.match(line):
                    return AtReply(tuple(lines), line)
                lines.append(line)
        raise ModemTimeout(f"{self.port}: no answer to {command} within {timeout_s or self.timeout_s:g} s")

    def _write(self, data: str) -> None:
        try:
            self._serial.write(data.encode("latin-1"))
        except serial.SerialTimeoutException as exc:
            raise ModemTimeout(f"{self.port}: write timed out") from exc
        except (serial.SerialException, OSError) as exc:
            raise ModemUnavailable(f"{self.port}: {exc}") from exc

    def _drain(self, quiet_s: float = 0.1) -> None:
        end = time.monotonic() + quiet_s
        while time.monotonic() < end:
            if self._serial.read(self._serial.in_waiting or 1):
                end = time.monotonic() + quiet_s
