"""The AT interpreter, sans I/O: bytes in, bytes out.

It splits the input into command lines (CR, LF or CRLF), echoes them while echo is on, runs each
command of a line (`AT+CMGF=0;+CSCS="GSM"`, `ATE0V1`) and frames the answer the way 27.007 modems do
(`\\r\\n<info>\\r\\n` lines, then `\\r\\nOK\\r\\n` or an error). After `AT+CMGS` it collects the body
up to Ctrl-Z (send) or ESC (cancel). The owner (`FakeModem`'s thread) does the timing: a submit's
answer comes back as `Deferred` when the modem has send latency, and the owner feeds no more input
until it has written it. Handlers for the commands live in `basic_commands` and `sms_commands`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Protocol

from .pdu import gsm7_encode, is_gsm7
from .state import ModemState, Session, network_registration

log = logging.getLogger(__name__)
CTRL_Z, ESC = 0x1A, 0x1B
MAX_LINE = 4096
# Commands that need an unlocked SIM (+CME ERROR: 11 while it asks for its PIN).
NEEDS_SIM = frozenset({
    "+CMGS", "+CMGL", "+CMGR", "+CMGD", "+CMGW", "+CMSS", "+CPMS", "+CSCA", "+CNUM", "+CIMI",
    "+CUSD", "+COPS", "+CPBS",
})


class Hooks(Protocol):
    """What the engine needs from its owner."""

    def queue_urc(self, data: bytes) -> None:
        """Emit `data` (an already framed URC) at the next point between commands."""

    def schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run `action` on the owner's thread after `delay_s`."""


class AtError(Exception):
    """A handler's way to end the command with a final result other than OK."""

    def __init__(self, final: str) -> None:
        super().__init__(final)
        self.final = final


@dataclass(frozen=True)
class Command:
    name: str          # "+CMGS", "^CVOICE", "E", "&F", "Z"
    kind: str          # "exec" | "set" | "read" | "test"
    args: str = ""

    def params(self) -> list[str]:
        """Comma-separated arguments, quotes removed (`"ME","ME",1` -> ['ME', 'ME', '1'])."""
        if not self.args:
            return []
        out: list[str] = []
        cur: list[str] = []
        quoted = False
        for ch in self.args:
            if ch == '"':
                quoted = not quoted
            elif ch == "," and not quoted:
                out.append("".join(cur).strip())
                cur = []
            else:
                cur.append(ch)
        out.append("".join(cur).strip())
        return out

    def int_params(self) -> list[int | None]:
        """Numeric arguments (None where omitted); raises ValueError on anything else."""
        return [int(p) if p != "" else None for p in self.params()]


@dataclass(frozen=True)
class Deferred:
    delay_s: float
    data: bytes


class PendingSubmit(Protocol):
    """A command waiting for its body after the `> ` prompt (AT+CMGS, AT+CMGW)."""

    def finish(self, engine: "AtEngine", body: str) -> tuple[list[str], str]:
        """(info lines, final result) once the body ended with Ctrl-Z; a final result of "" is one lost on the
        line (the info lines go out alone)."""

    @property
    def delayed(self) -> bool:
        """Whether the answer waits for the network (send latency)."""


Handler = Callable[["AtEngine", Command], list[str]]


def parse_line(body: str) -> list[Command]:
    """The commands in what follows "AT". Raises ValueError on a syntax error."""
    cmds: list[Command] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch in " ;":
            i += 1
        elif ch in "+^$%#*":
            j, quoted = i, False
            while j < len(body) and (quoted or body[j] != ";"):
                quoted ^= body[j] == '"'
                j += 1
            cmds.append(_parse_extended(body[i:j]))
            i = j
        elif ch.isalpha() or ch == "&":
            name = body[i:i + 2].upper() if ch == "&" else ch.upper()
            i += len(name)
            if name == "S":            # S-registers: S0=1, S7?
                j = i
                while j < len(body) and body[j].isdigit():
                    j += 1
                name += body[i:j]
                i = j
                if body[i:i + 1] == "?":
                    cmds.append(Command(name, "read"))
                    i += 1
                    continue
                if body[i:i + 1] == "=":
                    i += 1
            j = i
            while j < len(body) and body[j].isdigit():
                j += 1
            cmds.append(Command(name, "set" if j > i else "exec", body[i:j]))
            i = j
        else:
            raise ValueError(f"bad character {ch!r}")
    return cmds


def _parse_extended(text: str) -> Command:
    for k, ch in enumerate(text):
        if ch in "=?":
            name, rest = text[:k].upper(), text[k:]
            break
    else:
        return Command(text.upper().strip(), "exec")
    if rest.startswith("=?"):
        return Command(name, "test", rest[2:])
    if rest.startswith("="):
        return Command(name, "set", rest[1:])
    return Command(name, "read", rest[1:])


def frame(lines: list[str]) -> bytes:
    if not lines:
        return b""
    return ("\r\n" + "\r\n".join(lines) + "\r\n").encode("latin-1", errors="replace")


def frame_final(final: str) -> bytes:
    return ("\r\n" + final + "\r\n").encode("latin-1")


NUMERIC_RESULTS = {"OK": "0", "CONNECT": "1", "RING": "2", "NO CARRIER": "3", "ERROR": "4"}  # V.250 §5.7.1


class AtEngine:
    """One power-on session's AT interpreter. Used only by its owner's thread."""

    def __init__(self, state: ModemState, session: Session, hooks: Hooks,
                 handlers: dict[str, Handler]) -> None:
        self.state = state
        self.session = session
        self.hooks = hooks
        self.profile = state.profile
        self._handlers = handlers
        self._buf = bytearray()
        self._pending: PendingSubmit | None = None

    def restart(self, session: Session) -> None:
        """Power-cycled in place: a new session; a command half-typed or a PDU awaited is gone."""
        self.session = session
        self._buf.clear()
        self._pending = None

    # --- input ----------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def in_prompt(self) -> bool:
        return self._pending is not None

    def process(self) -> tuple[bytes, Deferred | None]:
        """Consume every complete line in the input; stop early at a deferred answer."""
        out = bytearray()
        while True:
            if self._pending is not None:
                end = next((k for k, b in enumerate(self._buf) if b in (CTRL_Z, ESC)), -1)
                if end < 0:
                    return bytes(out), None
                body = self._buf[:end].decode("latin-1")
                terminator = self._buf[end]
                del self._buf[:end + 1]
                pending, self._pending = self._pending, None
                self.state.record_command(body.strip())
                if self.state.hung:
                    continue
                if self.session.echo:
                    out += body.encode("latin-1")
                if terminator == ESC:
                    out += self.result("OK")
                    continue
                lines, final = pending.finish(self, body)
                answer = frame(lines) + (self.result(final) if final else b"")
                delay_s = self.state.latency_ms / 1000 if pending.delayed else 0
                if delay_s > 0:
                    return bytes(out), Deferred(delay_s, answer)
                out += answer
                continue
            end = next((k for k, b in enumerate(self._buf) if b in (0x0D, 0x0A)), -1)
            if end < 0:
                if len(self._buf) > MAX_LINE:       # line noise without a terminator
                    del self._buf[:-MAX_LINE]
                return bytes(out), None
            raw = bytes(self._buf[:end + 1])
            del self._buf[:end + 1]
            out += self._run_line(raw)

    def _run_line(self, raw: bytes) -> bytes:
        text = raw[:-1].decode("latin-1").strip()
        start = text.upper().find("AT")
        if start < 0:
            # noise, or the LF of a CRLF: a real modem echoes it and says nothing
            return raw if self.session.echo and not self.state.hung else b""
        line = text[start:]
        self.state.record_command(line)
        if self.state.hung:
            return b""
        echo = raw if self.session.echo else b""
        if line[2:].strip() in ("", "/"):
            return echo + self.result("OK")
        try:
            commands = parse_line(line[2:])
        except ValueError:
            return echo + self.result("ERROR")
        info: list[str] = []
        for cmd in commands:
            try:
                info += self._dispatch(cmd)
            except AtError as err:
                return echo + frame(info) + self.result(err.final)
            if self._pending is not None:
                return echo + frame(info) + b"\r\n> "
        return echo + frame(info) + self.result("OK")

    def result(self, final: str) -> bytes:
        """A final result code as ATV/ATQ say: framed words, a digit and CR (V0), or nothing (Q1)."""
        if self.session.quiet:
            return b""
        if self.session.verbose:
            return frame_final(final)
        return (NUMERIC_RESULTS.get(final, final) + "\r").encode("latin-1")

    def _dispatch(self, cmd: Command) -> list[str]:
        handler = self._handlers.get(cmd.name)
        if handler is None:
            raise AtError("ERROR" if cmd.kind == "test" else self.profile.unknown_reply)
        if not self.session.pin_ok and cmd.name in NEEDS_SIM:
            raise self.cme({"absent": 10, "puk": 12}.get(self.state.sim, 11))
        try:
            return handler(self, cmd)
        except (ValueError, IndexError):
            raise AtError("ERROR" if self.session.cmee == 0 else "+CME ERROR: 50") from None
        except AtError:
            raise
        except Exception:               # a bug here must not kill the modem thread: log, answer ERROR
            log.exception("fake modem: handler for %s failed", cmd)
            raise AtError("ERROR") from None

    # --- helpers for handlers -------------------------------------------------------------
    def cme(self, code: int) -> AtError:
        return AtError("ERROR" if self.session.cmee == 0 else f"+CME ERROR: {code}")

    def cms(self, code: int) -> AtError:
        return AtError(f"+CMS ERROR: {code}")

    def begin_prompt(self, pending: PendingSubmit) -> None:
        self._pending = pending

    def urc(self, *lines: str) -> None:
        self.hooks.queue_urc(frame(list(lines)))

    @property
    def registration(self) -> int:
        """+CREG <stat> as the network sees this modem now."""
        return network_registration(self.state, self.session)

    def te_encode(self, text: str) -> str:
        """Text as the terminal expects it in the +CSCS character set."""
        if self.session.cscs == "UCS2":
            return text.encode("utf-16-be", errors="surrogatepass").hex().upper()
        if self.session.cscs == "GSM":  # GSM 7-bit code points, one a byte (é is 0x05)
            return "".join(chr(septet) for ch in text
                           for septet in (gsm7_encode(ch) if is_gsm7(ch) else gsm7_encode("?")))
        return text.encode("latin-1", errors="replace").decode("latin-1")

    def te_decode(self, text: str) -> str:
        """Text the terminal sent in the +CSCS character set."""
        if self.session.cscs == "UCS2" and text and len(text) % 4 == 0:
            try:
                return bytes.fromhex(text).decode("utf-16-be", errors="surrogatepass")
            except ValueError:
                pass
        return text
