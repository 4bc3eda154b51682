"""`GsmModemDriver`: the `ModemDriver` over python-gsmmodem-new. The only module that imports gsmmodem.

What we take from the library: opening the port, its reader thread and line framing, and `connect()`'s
battle-tested initialisation sequence (ATZ, echo off, CMEE, PIN, vendor probing, PDU mode, CPMS, CNMI).
What we do not use, because each is defective (see /work/shared/notes/python-gsmmodem-new.md):

* `sendSms()`: it keeps only the last part's reference in a weak dict keyed by an 8-bit MR, crashes on emoji,
  always requests status reports in PDU mode and never resyncs after a missing prompt. We send PDUs built by
  `gateway.modem.pdu` with our own `AT+CMGS` exchange (`send_pdu`), one part per call, returning each part's MR.
* `processStoredSms()`/`listStoredSms(delete=True)`/the +CMTI handler: they delete before the caller has
  committed, and leave the read memory on "SR". `read_stored()` lists every memory explicitly and never
  deletes; `delete_stored()` deletes one item once the caller says so.
* the notification thread per URC that reads the port: URCs only become immutable `Notice`s here.

The library's own defects we patch, each with the narrowest hook (a method override, commented):

* strict UTF-8 decoding in the reader thread → `_Modem._readLoop` decodes with errors='replace' and turns any
  escape into the fatal-error path instead of a silent death;
* forced `rtscts=True, dsrdtr=True` and shareable ports → `_SerialPort.connect` takes flow control as a
  parameter and opens with `exclusive=True`;
* URCs swallowed into command responses, and bursts of them where only the first was handled →
  `_Modem._handleLineRead` recognises every URC line before the library files it, whether a command is
  outstanding or not.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from typing import Any, Callable

import serial
from gsmmodem.exceptions import CmeError, GsmModemException, SecurityException, TimeoutException
from gsmmodem.modem import GsmModem
from gsmmodem.serial_comms import SerialComms

from gateway.errors import (
    ModemError,
    ModemFaultSendError,
    ModemNeedsInit,
    ModemTimeout,
    ModemUnavailable,
    SendOutcomeUnknown,
    SimMissing,
    SimPinRequired,
    TemporarySendError,
    UssdError,
    UssdTimeout,
)
from gateway.modem import replies
from gateway.modem.atlog import AtLog
from gateway.modem.driver import ModemInfo, ModemStatus, Notice, NoticeSink, Registration, StoredItem
from gateway.modem.holders import busy_message
from gateway.modem.pdu import decode_pdu
from gateway.values import PartReceipt, StatusReport, SubmitPdu, UnreadableSms

log = logging.getLogger(__name__)

CTRL_Z = "\x1a"
RESYNC_QUIET_S = 0.1
ESC = "\x1b"
ATZ_TIMEOUT_S = 1.0  # a modem answers ATZ at once; silence means a stored profile without (verbose) results
RESULT_CODES_ON = "ATE0V1Q0"  # echo off, result codes as words, result codes on (V.250 §6.2)
_LINE_JUNK = bytes([*range(0x21), 0x7F, 0xFF])  # CR, NUL, other controls, space, DEL and a noisy line's 0xFF

_CMTI = re.compile(r'^\+CMTI:\s*"([^"]*)"\s*,\s*(\d+)')
_CDSI = re.compile(r'^\+CDSI:\s*"([^"]*)"\s*,\s*(\d+)')
_CDS = re.compile(r"^\+CDS:\s*(\d+)")  # PDU mode: the report's PDU is the next line
_CMT = re.compile(r"^\+CMT:")  # an SMS routed to us instead of stored (we never ask for that)
_CUSD = re.compile(r"^\+CUSD:")  # the network's answer to AT+CUSD: handed to the waiting ussd() call
_CALL = re.compile(r'^(?:RING$|\+CRING:|\+CLIP:\s*"?([^",]*))')  # an incoming voice call (+CLIP: the caller)
USSD_POLL_S = 0.1
# Unsolicited lines we do not act on but must keep out of command responses.
_IGNORED_URC = re.compile(
    r"^(RING$|NO CARRIER$|\+CRING:|\+CLIP:|\+CUSD:|\+CCWA:|\+CIEV:|\+CBM:|\+CGEV:|\+DTMF:|\^RSSI:|\^HCSQ:|"
    r"\^BOOT:|\^MODE:|\^SRVST:|\^DSFLOWRPT:|\^CEND:|\^ORIG:|\^CONN:|\^STIN:|\+STIN:|\*PSUTTZ:|"
    r"\+PSUTTZ:|DST:|\+CTZV:|\+CTZE:|Call Ready$|SMS Ready$|\+QIND:|\+QUSIM:|\^SIMST:)"
)
# The modem restarted (brown-out, firmware watchdog: it forgot PDU mode, CNMI, CMEE and wants the PIN again), or
# its radio was switched off (+CFUN: 0 / 4), or its SIM asks for its PIN: only re-initialising brings it back.
_RESTARTED = re.compile(r"^(RDY|\+CFUN: [014]|\+CPIN: (?:SIM PIN|SIM PUK))$")
# Its SIM went away (SIMCom's +CPIN, Huawei's ^SIMST <sim_state> 0 invalid / 255 absent) or came back. (+CPIN:
# READY also follows a PIN we entered ourselves: it only matters while the worker waits for a SIM.)
_SIM_GONE = re.compile(r"^(\+CPIN: (?:NOT READY|NOT INSERTED)|\^SIMST:\s*(?:0|255)\b.*|\+SIMCARD: NOT AVAILABLE)$")
_SIM_BACK = re.compile(r"^(\+CPIN: READY|\^SIMST:\s*1\b.*)$")
# AT+CREG=1 / AT+CGREG=1 / AT+CEREG=1's unsolicited form: <stat> alone, or followed by quoted <lac>/<tac>
# (the read reply's second field is <stat>, unquoted).
_CIREGU = re.compile(r"^\+CIREGU:\s*(\d)")  # AT+CIREG=1's unsolicited form: IMS registration (1) or not (0)
_REG_URC = re.compile(r'^\+C(E|G)?REG:\s*\d+\s*(?:,\s*".*)?$')
# SIMCom's supply warnings (their spelling); POWER DOWN means the modem is switching itself off.
_POWER = re.compile(r"^((?:UNDER|OVER)-VOLTAGE (?:WARNNING|WARNING|POWER DOWN)|NORMAL POWER DOWN)$")
SIM_MISSING_ERRORS = {("CME", 10), ("CME", 13)}  # SIM not inserted, SIM failure (TS 27.007 §9.2.1)
REGISTRATION_URCS_ON = ("AT+CREG=1", "AT+CGREG=1", "AT+CEREG=1", "AT+CIREG=1")
_REGISTRATION_RANK: tuple[Registration, ...] = (  # best first
    "home", "roaming", "no_sms", "searching", "denied", "not_registered", "unknown")
_PDU_LINE = re.compile(r"^[0-9A-Fa-f]+$")
_CMGL = re.compile(r"^\+CMGL:\s*(\d+)\s*,\s*(\d*)")
_STORED_OUTGOING = {2, 3}  # +CMGL stat: stored unsent / stored sent (SMS-SUBMITs we do not read)
_MEMORY_ORDER = ("SM", "ME", "MT", "SR")


def sms_registration(registrations: dict[str, Registration], ims: bool | None) -> Registration:
    """The registration that lets SMS through, of those the modem reported per domain ("" CS, "G" GPRS, "E"
    LTE): the best one, except that LTE alone carries SMS only over IMS (or SGs, which shows as CS): registered
    on LTE with IMS known to be down is "no_sms", the 2G/3G-shutdown trap."""
    best: Registration = min(registrations.values(), key=_REGISTRATION_RANK.index, default="unknown")
    carried = any(registrations.get(domain) in ("home", "roaming") for domain in ("", "G"))
    return "no_sms" if best in ("home", "roaming") and not carried and ims is False else best


def _clean_line(raw: bytes | bytearray) -> str:
    """One received line without its terminator, NULs, and control or stray bytes at its ends; UTF-8 when it is,
    else 8859-1 (a modem in IRA mode may send an operator's name that way: never `T?l?com`)."""
    line = bytes(raw).replace(b"\x00", b"").strip(_LINE_JUNK)
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


class _CommandRefused(Exception):
    """A command ended in ERROR / +CMS ERROR / +CME ERROR. Internal: never leaves this module."""

    def __init__(self, command: str, final: str) -> None:
        super().__init__(f"{command!r} answered {final!r}")
        self.final = final
        self.error = replies.parse_error_line(final)


class _SerialPort(SerialComms):  # type: ignore[misc]  # python-gsmmodem-new ships no types
    """Hook for `SerialComms.connect` only. GsmModem.connect() calls `super(GsmModem, self).connect()`, so the
    override has to sit below GsmModem in the MRO (see `_Modem`); a plain subclass override is never reached.
    """

    flow_control = False
    at_log: AtLog | None = None
    _response: list[str]  # the library's: the lines of the answer being waited for
    _responseEvent: threading.Event | None  # the library's: set by the reader when that answer is complete

    def write(self, data: str, *args: Any, **kwargs: Any) -> Any:
        """Hook: every write passes here (the library's and ours), so the modem's AT log sees each one."""
        if self.at_log is not None:
            self.at_log.sent(data)
        return super().write(data, *args, **kwargs)

    def connect(self) -> None:
        # The library hard-codes rtscts=True, dsrdtr=True: a UART without CTS wired hangs on the first ATZ.
        # exclusive=True: two processes must never share a modem.
        try:
            self.serial = serial.Serial(
                port=self.port,
                baudrate=self.baudrate,
                timeout=self.timeout,
                rtscts=self.flow_control,
                dsrdtr=self.flow_control,
                exclusive=True,
            )
        except serial.SerialException as exc:
            if "exclusively lock" not in str(exc):
                raise
            raise serial.SerialException(busy_message(self.port)) from exc
        # A process killed between AT+CMGS and Ctrl-Z leaves the modem waiting for PDU text: every command
        # would be swallowed as PDU. ESC cancels that submit (the part is `unknown`, never sent by us later);
        # whatever it answers is dropped before the reader starts.
        self.serial.write(ESC.encode())
        time.sleep(0.05)
        self.serial.reset_input_buffer()
        self.alive = True
        self.rxThread = threading.Thread(target=self._readLoop, name=f"modem-rx {self.port}", daemon=True)
        self.rxThread.start()


class _Modem(GsmModem, _SerialPort):  # type: ignore[misc]  # python-gsmmodem-new ships no types
    """GsmModem with the reader-side hooks. Everything that writes to the port runs on the driver's caller."""

    def __init__(self, port: str, baudrate: int, *, emit: Callable[[Notice], None], flow_control: bool,
                 timeout_cap_s: float, at_log: AtLog | None) -> None:
        super().__init__(port, baudrate, fatalErrorCallbackFunc=self._on_fatal)
        self.flow_control = flow_control
        self.at_log = at_log
        self.timeout_cap_s = timeout_cap_s
        self.fatal: BaseException | None = None
        self._emit_notice = emit
        self._cds_pending = False
        self._cmt_pending = False
        self.last_command: str | None = None  # the last command connect() wrote: a failed connect names it
        # the latest registration per domain ("" CS, "G" GPRS, "E" LTE), from URCs and polls; the best one counts
        self.registrations: dict[str, Registration] = {}
        self.ims: bool | None = None  # registered for SMS over IMS (+CIREG), when the modem says
        self._rx_seen = threading.Event()  # set by the reader on every line: lets wait_quiet() see silence
        self.ussd_answers: queue.SimpleQueue[str] = queue.SimpleQueue()  # +CUSD lines, reader → ussd()

    # --- reader thread side --------------------------------------------------------------------------------

    def _readLoop(self) -> None:
        """Hook: the library's loop with three fixes. It decoded with strict UTF-8, so one stray byte killed the
        thread while `alive` stayed True and every later command timed out; only SerialException reached the
        fatal callback; and a line ended only at CR LF, so a modem (or a line) that drops the CR ran every answer
        together. Here a line ends at LF (not inside quotes), NULs and stray bytes at its ends are dropped
        (`_clean_line`), and any exception that ends the loop is reported as fatal (this loop is the owner of
        this thread, so it is the place to catch broadly).
        """
        try:
            buffer = bytearray()
            while self.alive:
                data = self.serial.read(1)
                if not data:
                    continue
                buffer += data
                if data == b"\n" and buffer.count(b'"') % 2 == 0:  # a newline inside quotes is USSD text
                    line = _clean_line(buffer)
                    buffer = bytearray()
                    self._rx_seen.set()
                    if line:
                        self._handleLineRead(line)
                elif self._expectResponseTermSeq and buffer.endswith(self._expectResponseTermSeq):
                    line = buffer.decode("utf-8", errors="replace")
                    buffer = bytearray()
                    self._handleLineRead(line, checkForResponseTerm=False)
        except Exception as exc:  # noqa: BLE001 - the end of this thread, reported instead of lost
            if not self.alive:
                return  # close() cancelled the read: not a failure
            # The port is not closed here (the library did): close() on the worker's thread owns that. Two
            # threads closing one pyserial port can close the same fd number twice, and the second close
            # then hits whatever file reused the number (seen: the HTTP server's wake-up pipe).
            self.alive = False
            self.fatalErrorCallback(exc)

    def _handleLineRead(self, line: str, checkForResponseTerm: bool = True) -> None:
        """Hook: sees every line before the library files it as a command response or a notification, so a
        URC that arrives while a command is outstanding is not swallowed into that response, and each URC of
        a burst is handled (the library acted on the first line of a batch only).
        """
        if self.at_log is not None:
            self.at_log.received(line)
        if self._cds_pending or self._cmt_pending:
            was_cds = self._cds_pending
            self._cds_pending = self._cmt_pending = False
            if _PDU_LINE.match(line.strip()):
                if was_cds:
                    self._report_inline(line.strip())
                else:
                    log.error("%s: SMS delivered by +CMT (not stored, so not read by the sweep): %s",
                              self.port, line.strip())
                return
            log.warning("%s: expected a PDU line after +CDS/+CMT, got %r", self.port, line)
        if checkForResponseTerm and self._take_urc(line.strip()):
            return
        super()._handleLineRead(line, checkForResponseTerm)

    def _take_urc(self, line: str) -> bool:
        if match := _CMTI.match(line):
            self._emit(Notice(kind="sms_stored", memory=match.group(1), index=int(match.group(2))))
        elif match := _CDSI.match(line):
            self._emit(Notice(kind="report_stored", memory=match.group(1), index=int(match.group(2))))
        elif _CDS.match(line):
            self._cds_pending = True
        elif _CMT.match(line):
            self._cmt_pending = True
        elif _CUSD.match(line):
            self.ussd_answers.put(line)  # a value handed over; ussd() reads it on the worker's thread
        elif match := _CALL.match(line):
            self._emit(Notice(kind="call", detail=(match.group(1) or None) if match.lastindex else None))
        elif match := _REG_URC.match(line):
            self.registrations[match.group(1) or ""] = replies.parse_registration(line)
            self._emit(Notice(kind="registration", detail=sms_registration(self.registrations, self.ims)))
        elif match := _CIREGU.match(line):
            self.ims = match.group(1) == "1"
            self._emit(Notice(kind="registration", detail=sms_registration(self.registrations, self.ims)))
        elif self._is_expected_reply(line):
            return False
        elif _RESTARTED.match(line):
            log.warning("%s: %r: the modem restarted, switched its radio off or wants the PIN; re-initialising",
                        self.port, line)
            self._emit(Notice(kind="restarted", detail=f"the modem said {line!r}: restarted or lost its settings"))
        elif _SIM_GONE.match(line):
            self._emit(Notice(kind="sim", detail=f"absent: the modem said {line!r}"))
        elif _SIM_BACK.match(line):
            self._emit(Notice(kind="sim", detail="ready"))
        elif _POWER.match(line):
            self._emit(Notice(kind="power", detail=line))
        elif _IGNORED_URC.match(line):
            log.debug("%s: unsolicited %r ignored", self.port, line)
        else:
            return False
        return True

    def _is_expected_reply(self, line: str) -> bool:
        # '+CFUN: 1' and '+CPIN: READY' are URCs on SIMCom after boot, but also the replies to AT+CFUN? and
        # AT+CPIN? (and ^SIMST to AT^SYSINFO's kin): while a command is outstanding they belong to it.
        return line.startswith(("+CFUN:", "+CPIN:", "^SIMST:")) and bool(self._responseEvent)

    def _report_inline(self, pdu_hex: str) -> None:
        try:
            report = decode_pdu(pdu_hex)
        except ValueError as exc:
            log.error("%s: +CDS status report PDU undecodable (%s): %s", self.port, exc, pdu_hex)
            return
        if isinstance(report, StatusReport):
            self._emit(Notice(kind="report", report=report))
        else:
            log.error("%s: +CDS carried an SMS-DELIVER, not a report: %s", self.port, pdu_hex)

    def _emit(self, notice: Notice) -> None:
        try:
            self._emit_notice(notice)
        except Exception:  # noqa: BLE001 - a failing sink must not kill the reader thread
            log.exception("%s: notice sink failed on %r", self.port, notice)

    def _handleModemNotification(self, lines: list[str]) -> None:
        """Hook: the library starts a thread per notification that reads and deletes from the port. Every URC
        we act on was taken in `_handleLineRead`; what is left (late replies after a timeout, unknown lines)
        is only logged.
        """
        log.info("%s: unsolicited lines ignored: %r", self.port, lines)

    def _on_fatal(self, exc: BaseException) -> None:
        log.error("%s: port failed, reader stopped: %s: %s", self.port, type(exc).__name__, exc)
        self.fatal = exc
        waiting = self._responseEvent
        if waiting is not None:
            waiting.set()  # wake a command waiting on a port that is gone; the driver checks `fatal`
        self._emit(Notice(kind="fatal", detail=f"{type(exc).__name__}: {exc}"))

    # --- caller side ----------------------------------------------------------------------------------------

    def write(self, data: str, waitForResponse: bool = True, timeout: float = 10, *args: object,
              **kwargs: object) -> list[str] | None:
        """Hook: caps the library's own timeouts (10 s per connect() command, 15 s for AT+CPIN?) to ours, notes
        the command (a failed connect names it), and makes connect()'s ATZ safe from the stored profile."""
        self.last_command = data
        timeout = min(timeout, self.timeout_cap_s)
        if data == "ATZ" and waitForResponse:
            return self._reset_profile(timeout, *args, **kwargs)
        lines: list[str] | None = super().write(data, waitForResponse, timeout, *args, **kwargs)
        return lines

    def _reset_profile(self, timeout_s: float, *args: object, **kwargs: object) -> list[str] | None:
        """ATZ loads the modem's stored profile, which may give numeric result codes (ATV0: `0<CR>`, no line
        feed) or none (ATQ1): then no OK we can read comes, and `ATE0 V1 Q0` brings words back (its own OK
        is in words, and stands for ATZ's). A modem that refuses ATZ (some want the PIN first) raises as
        before, so connect() takes its PIN path."""
        try:
            lines: list[str] | None = super().write("ATZ", True, min(timeout_s, ATZ_TIMEOUT_S), *args, **kwargs)
            return lines
        except TimeoutException:
            log.warning("%s: no readable answer to ATZ: the stored profile hides result codes (ATV0/ATQ1); "
                        "sending ATE0 V1 Q0", self.port)
        self.last_command = RESULT_CODES_ON
        lines = super().write(RESULT_CODES_ON, True, timeout_s, *args, **kwargs)
        self.wait_quiet(RESYNC_QUIET_S, timeout_s)  # a late answer to ATZ is dropped, not taken for the next
        return lines

    def exchange(self, data: str, timeout_s: float, *, term: str = "\r", prompt: bool = False,
                 meanwhile: Callable[[], None] | None = None) -> list[str]:
        """Write one command (or PDU) and return its response lines, below GsmModem.write: that one retries
        +CME 14 / 515 by writing the same data again, which after a PDU would type hex into command mode.
        `meanwhile`: see `ModemDriver.send_pdu`.
        """
        if self.fatal is not None or not self.alive:
            raise serial.SerialException(f"port {self.port} is closed ({self.fatal})")
        if meanwhile is not None:
            return self._write_then(data + term, timeout_s, meanwhile)
        lines: list[str] = _SerialPort.write(self, data + term, waitForResponse=True, timeout=timeout_s,
                                             expectedResponseTermSeq="> " if prompt else None)
        return lines

    def _write_then(self, data: str, timeout_s: float, meanwhile: Callable[[], None]) -> list[str]:
        """The library's write-and-wait (SerialComms.write), with `meanwhile()` run on the caller's thread between
        the write and the wait: the answer the reader takes in the meantime is waited for within the same
        `timeout_s` as `exchange` gives it otherwise, and a `meanwhile` that fails is logged, never mistaken for
        the modem's answer."""
        deadline = time.monotonic() + timeout_s
        with self._txLock:  # (an RLock: the write below takes it again)
            self._response, self._responseEvent = [], threading.Event()
            answered = self._responseEvent
            try:
                _SerialPort.write(self, data, waitForResponse=False)  # through the hook: the AT log sees it
                try:
                    meanwhile()
                except Exception:  # noqa: BLE001 - the part is on its way: its answer still decides
                    log.exception("%s: work done while the modem sent a part failed", self.port)
                if not answered.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutException(self._response) if self._response else TimeoutException()
                lines: list[str] = self._response
                return lines
            finally:
                self._responseEvent = None

    def write_raw(self, data: str) -> None:
        _SerialPort.write(self, data, waitForResponse=False)

    def wait_quiet(self, quiet_s: float, limit_s: float) -> bool:
        """Wait until no line has arrived for `quiet_s` (at most `limit_s`): late answers to a command we gave
        up on then land here, as logged stray lines, and not in the next command's response.
        """
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            self._rx_seen.clear()
            if not self._rx_seen.wait(quiet_s):
                return True
        return False

    def is_healthy(self) -> bool:
        thread = getattr(self, "rxThread", None)
        port = getattr(self, "serial", None)
        return (self.fatal is None and self.alive and thread is not None and thread.is_alive()
                and port is not None and port.is_open)

    def close(self) -> None:
        """Override: SerialComms.close() joins the reader without a timeout and fails if connect() never ran."""
        self.alive = False
        port = getattr(self, "serial", None)
        thread = getattr(self, "rxThread", None)
        if port is not None:
            try:
                port.cancel_read()  # wakes the reader's blocking read now instead of at its 1 s timeout
            except Exception:  # noqa: BLE001 - the port may be gone already
                pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
            if thread.is_alive():  # closing under a live reader risks a double close: leak the fd instead
                log.error("%s: reader thread did not stop; port left open", self.port)
                return
        if port is not None:
            try:
                port.close()
            except Exception:  # noqa: BLE001 - closing a vanished port must not fail close()
                pass


class GsmModemDriver:
    """One GSM modem over python-gsmmodem-new. Used by one thread (its pool worker); `on_notice` is called on
    the library's reader thread and must only hand the value over (e.g. put it on the worker's queue).
    """

    def __init__(self, port: str, *, baudrate: int = 115200, pin: str | None = None, on_notice: NoticeSink,
                 command_timeout_s: float = 10, flow_control: bool = False, at_log: AtLog | None = None) -> None:
        self.port = port
        self._at_log = at_log
        self._baudrate = baudrate
        self._pin = pin or None
        self._on_notice = on_notice
        self._command_timeout_s = command_timeout_s
        self._flow_control = flow_control
        self._modem: _Modem | None = None
        self._memories: tuple[str, ...] = ()
        self._home_memory: str | None = None
        self._read_memory: str | None = None
        self._charset = "IRA"  # +CSCS, read at open

    def __repr__(self) -> str:
        return f"GsmModemDriver({self.port!r}, open={self._modem is not None})"

    def __enter__(self) -> GsmModemDriver:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- lifecycle -------------------------------------------------------------------------------------------------

    def open(self) -> ModemInfo:
        """Open the port and run the library's connect() (PIN from config), then read the modem's identity."""
        self.close()
        modem = _Modem(self.port, self._baudrate, emit=self._on_notice, flow_control=self._flow_control,
                       timeout_cap_s=self._command_timeout_s, at_log=self._at_log)
        try:
            # GsmModem.connect (untyped, so mypy sees _SerialPort.connect) comes first in the MRO and takes the PIN
            modem.connect(pin=self._pin)  # type: ignore[call-arg]
        except SecurityException as exc:  # PinRequiredError, IncorrectPinError, PukRequiredError
            modem.close()
            raise SimPinRequired(f"{self.port}: SIM refused or needs a PIN/PUK ({exc})") from exc
        except (GsmModemException, serial.SerialException, OSError, TypeError, ValueError, IndexError,
                AttributeError) as exc:
            # Besides its own exceptions, connect() crashes with TypeError/IndexError/AttributeError on replies
            # it did not expect (e.g. a bare OK to AT+WIND?): all mean "this modem is not usable now".
            modem.close()
            if isinstance(exc, CmeError) and ("CME", exc.code) in SIM_MISSING_ERRORS:
                raise SimMissing(f"{self.port}: no SIM (+CME ERROR: {exc.code} to {modem.last_command!r})") from exc
            raise ModemUnavailable(f"{self.port}: connect failed at {modem.last_command!r}: "
                                   f"{type(exc).__name__}: {exc}") from exc
        self._modem = modem
        try:
            self._charset = self._terminal_charset()
            info = ModemInfo(
                manufacturer=self._identify("AT+CGMI", "+CGMI:") or "",
                model=self._identify("AT+CGMM", "+CGMM:") or "",
                revision=self._identify("AT+CGMR", "+CGMR:", "Revision:") or "",
                imei=self._identify("AT+CGSN", "+CGSN:") or "",
                imsi=self._identify("AT+CIMI", "+CIMI:"),
                own_number=self._own_number(),
            )
            self._memories = self._storage_memories()
            home = (modem._smsMemReadDelete or "").strip('"')  # what connect() chose for reading
            self._home_memory = home or next((m for m in self._memories if m != "SR"), None)
            self._read_memory = self._home_memory
            self._report_registration_changes()
        except BaseException:
            self.close()
            raise
        log.info("%s: %s %s (%s) ready; memories %s", self.port, info.manufacturer, info.model, info.revision,
                 ",".join(self._memories) or "none")
        return info

    def _terminal_charset(self) -> str:
        """The +CSCS character set the modem's strings come in (operator names, USSD answers, +CNUM): it is left
        as the modem has it (UCS2 would change what AT+CUSD expects), and read."""
        try:
            return replies.parse_cscs(replies.find_line(self._command("AT+CSCS?"), "+CSCS:"))
        except (_CommandRefused, ValueError):
            return "IRA"

    def _report_registration_changes(self) -> None:
        """`AT+CREG=1` (and its GPRS and LTE twins, where the modem has them): the modem says at once when it
        loses or regains the network (a "registration" notice), rather than at the next health poll. A domain
        the modem refuses is left to the poll."""
        for command in REGISTRATION_URCS_ON:
            try:
                self._command(command)
            except _CommandRefused as exc:
                log.debug("%s: %s refused (%s)", self.port, command, exc)

    def close(self) -> None:
        """Close the port; idempotent, and quick even when the device has vanished."""
        modem, self._modem = self._modem, None
        if modem is not None:
            modem.close()

    def is_alive(self) -> bool:
        return self._modem is not None and self._modem.is_healthy()

    # --- sending ------------------------------------------------------------------------------------------------------

    def send_pdu(self, pdu: SubmitPdu, timeout_s: float,
                 meanwhile: Callable[[], None] | None = None) -> PartReceipt:
        """`AT+CMGS=<len>`, wait for '> ', write the hex and Ctrl-Z (then run `meanwhile`), return the MR from
        `+CMGS: <mr>`.

        +CMS/+CME errors raise TemporarySendError or PermanentSendError (see replies.py). Before the PDU is
        written, a missing prompt resyncs the modem (ESC, then AT) and raises ModemTimeout, a broken port
        ModemUnavailable: nothing went out. Once the PDU is written, no answer (or a port failure, or an OK
        without +CMGS) raises SendOutcomeUnknown: the part may have gone out and must not be re-sent blindly;
        a `+CMGS: <mr>` whose final OK never came is a sent part (after a resync).
        """
        command = f"AT+CMGS={pdu.tpdu_length}"
        try:
            prompt = self._command(command, min(timeout_s, self._command_timeout_s), prompt=True)
            if not prompt or not prompt[-1].rstrip().endswith(">"):
                raise ModemTimeout(f"{self.port}: no '> ' prompt after {command} (got {prompt!r})")
        except _CommandRefused as exc:
            raise self._send_error(exc) from exc
        except ModemTimeout:
            self._resync()
            raise
        try:
            lines = self._command(pdu.hex, timeout_s, term=CTRL_Z, meanwhile=meanwhile)
        except _CommandRefused as exc:
            raise self._send_error(exc) from exc
        except ModemUnavailable as exc:
            if isinstance(exc, ModemTimeout):
                self._resync()
                try:  # the final OK was lost (line noise), but `+CMGS: <mr>` came: the network took the part
                    receipt = PartReceipt(reference=replies.parse_cmgs(list(exc.partial)))
                except ValueError:
                    pass
                else:
                    log.warning("%s: +CMGS: %d came without its final OK; the part went out", self.port,
                                receipt.reference)
                    return receipt
            raise SendOutcomeUnknown(f"{self.port}: part written, then {exc}") from exc
        try:
            return PartReceipt(reference=replies.parse_cmgs(lines))
        except ValueError as exc:
            raise SendOutcomeUnknown(f"{self.port}: {command} answered {lines!r} without +CMGS") from exc

    def _send_error(self, refused: _CommandRefused) -> Exception:
        if refused.error is None:  # a bare ERROR / COMMAND NOT SUPPORT: nothing says it is final
            if self._verbose_errors_lost():
                return ModemFaultSendError(f"{self.port}: {refused}, and +CMEE is 0 again: the modem restarted")
            return TemporarySendError(f"{self.port}: {refused}")
        return replies.send_error(*refused.error)

    def _verbose_errors_lost(self) -> bool:
        """Connecting set +CMEE=1, so a bare ERROR is suspect: `+CMEE: 0` means the modem restarted (its settings
        and perhaps its PIN are gone) and the refusal says nothing about the message."""
        try:
            return self._cmee() == "0"
        except (_CommandRefused, ValueError, ModemUnavailable):
            return False

    def _cmee(self) -> str:
        """The modem's +CMEE setting as it answers `AT+CMEE?` ("0" after a restart forgot ours)."""
        return replies.find_line(self._command("AT+CMEE?"), "+CMEE:").split(":", 1)[1].strip()

    def _resync(self) -> None:
        """ESC ends a pending PDU entry, a plain AT shows whether the modem listens again, and a short quiet
        period lets late answers to the abandoned command drain. Best effort: the caller raises anyway, and
        the worker reopens the modem if it stays silent.
        """
        modem = self._modem
        if modem is None or not modem.is_healthy():
            return
        try:
            modem.write_raw(ESC)
            modem.exchange("AT", min(self._command_timeout_s, 2.0))
        except (TimeoutException, serial.SerialException, OSError) as exc:
            log.warning("%s: resync after timeout failed: %s %s", self.port, type(exc).__name__, exc)
        modem.wait_quiet(RESYNC_QUIET_S, self._command_timeout_s)

    # --- status -------------------------------------------------------------------------------------------------------

    def status(self) -> ModemStatus:
        """Signal (+CSQ), registration (+CREG?) and operator (+COPS?); a refused query reads as unknown.

        First, cheaply, what a restart whose banners were missed leaves behind: ModemUnavailable (so the worker
        re-initialises the modem) when the SIM is not ready (`+CPIN: SIM PIN`, …) or verbose errors, which
        connecting set, are off again (`+CMEE: 0`)."""
        self._check_not_restarted()
        rssi = dbm = None
        registration: Registration = "unknown"
        operator = None
        try:
            rssi, dbm = replies.parse_csq(replies.find_line(self._command("AT+CSQ"), "+CSQ:"))
        except (_CommandRefused, ValueError) as exc:
            log.warning("%s: AT+CSQ: %s", self.port, exc)
        registration = self._registration()
        try:
            operator = replies.parse_operator(replies.find_line(self._command("AT+COPS?"), "+COPS:"))
            operator = replies.decode_te_text(operator, self._charset) if operator else None
        except (_CommandRefused, ValueError) as exc:
            log.warning("%s: AT+COPS?: %s", self.port, exc)
        used, total = self._storage_use()
        return ModemStatus(rssi=rssi, signal_dbm=dbm, registration=registration, operator=operator,
                           storage_used=used, storage_total=total)

    def _registration(self) -> Registration:
        """Circuit-switched registration (+CREG?) and, when that is not registered, LTE (+CEREG?) and IMS
        (+CIREG?): an LTE-only modem sends SMS over IMS (or SGs) while +CREG says 0 (see sms_registration)."""
        modem = self._modem
        if modem is None:
            return "unknown"
        for domain, command in (("", "AT+CREG?"), ("E", "AT+CEREG?")):
            try:
                modem.registrations[domain] = replies.parse_registration(
                    replies.find_line(self._command(command), command[2:-1] + ":"))
            except (_CommandRefused, ValueError) as exc:
                (log.warning if domain == "" else log.debug)("%s: %s: %s", self.port, command, exc)
            if modem.registrations.get(domain) in ("home", "roaming"):
                break
        if modem.registrations.get("E") in ("home", "roaming") and modem.registrations.get("") not in ("home",
                                                                                                   "roaming"):
            try:
                modem.ims = replies.parse_cireg(replies.find_line(self._command("AT+CIREG?"), "+CIREG:"))
            except (_CommandRefused, ValueError):
                modem.ims = None  # a modem that cannot say is not judged on it
        return sms_registration(modem.registrations, modem.ims)

    def _storage_use(self) -> tuple[int | None, int | None]:
        """(used, total) of the first memory in `AT+CPMS?`: where new SMS are read from and deleted."""
        try:
            usage = replies.parse_cpms_usage(replies.find_line(self._command("AT+CPMS?"), "+CPMS:"))
        except (_CommandRefused, ValueError) as exc:
            log.info("%s: AT+CPMS?: %s", self.port, exc)
            return None, None
        return (usage[0][1], usage[0][2]) if usage else (None, None)

    def _check_not_restarted(self) -> None:
        try:
            sim = replies.parse_cpin(replies.find_line(self._command("AT+CPIN?"), "+CPIN:"))
            cmee = self._cmee()
        except ValueError:
            return  # a modem that does not say is not judged on it
        except _CommandRefused as exc:
            if exc.error in SIM_MISSING_ERRORS:
                raise SimMissing(f"{self.port}: no SIM ({exc.final})") from exc
            raise ModemNeedsInit(f"{self.port}: AT+CPIN? refused ({exc}): re-initialising") from exc
        if sim in ("NOT READY", "NOT INSERTED"):
            raise SimMissing(f"{self.port}: no SIM (+CPIN: {sim})")
        if sim != "READY" or cmee == "0":
            log.warning("%s: +CPIN: %s, +CMEE: %s: the modem restarted or its SIM needs it again; re-initialising",
                        self.port, sim, cmee)
            raise ModemNeedsInit(f"{self.port}: the modem lost its settings or its SIM (+CPIN: {sim}, "
                                   f"+CMEE: {cmee})")

    # --- USSD, SIM number and calls ----------------------------------------------------------------------------------

    def ussd(self, code: str, timeout_s: float) -> str:
        """`AT+CUSD=1,"<code>",15`, then wait for the +CUSD URC the reader hands over (it may come before or
        after the OK). A menu that waits for input (m=1) is ended with AT+CUSD=2 after its text is read.
        """
        modem = self._modem
        if modem is None:
            raise ModemUnavailable(f"{self.port}: not open")
        while True:  # an answer that came after an earlier call gave up is not this call's answer
            try:
                modem.ussd_answers.get_nowait()
            except queue.Empty:
                break
        try:
            self._command(f'AT+CUSD=1,"{code}",15')
        except _CommandRefused as exc:
            raise UssdError(f"{self.port}: USSD {code} refused: {exc.final}") from exc
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = modem.ussd_answers.get(timeout=USSD_POLL_S)
                break
            except queue.Empty:
                if not modem.is_healthy():
                    raise ModemUnavailable(f"{self.port}: port failed waiting for the USSD answer ({modem.fatal})")
                if time.monotonic() >= deadline:
                    self._end_ussd()
                    raise UssdTimeout(f"{self.port}: no answer to USSD {code} within {timeout_s:g} s") from None
        status, text, dcs = replies.parse_cusd(line)
        if status == 1:
            self._end_ussd()
        if text is None or status in (2, 4, 5):
            raise UssdError(f"{self.port}: USSD {code}: {replies.USSD_STATUS.get(status, f'status {status}')}"
                            + (f" ({text})" if text else ""))
        return replies.decode_ussd_text(text, dcs, self._charset)

    def _end_ussd(self) -> None:
        try:
            self._command("AT+CUSD=2")
        except (_CommandRefused, ModemTimeout) as exc:
            log.info("%s: ending the USSD session: %s", self.port, exc)

    def reject_call(self) -> None:
        """ATH hangs up an incoming call on most modems; AT+CHUP where ATH is refused."""
        try:
            self._command("ATH")
        except _CommandRefused:
            try:
                self._command("AT+CHUP")
            except _CommandRefused as exc:
                log.warning("%s: could not hang up an incoming call: %s", self.port, exc)

    def _own_number(self) -> str | None:
        """AT+CNUM: the SIM's own number when the operator wrote it to the SIM (many do not)."""
        try:
            return replies.parse_cnum(self._command("AT+CNUM"), self._charset)
        except _CommandRefused:
            return None

    # --- storage ------------------------------------------------------------------------------------------------------

    def read_stored(self) -> list[StoredItem]:
        """Every SMS and status report in every memory (`AT+CPMS="<mem>"` then `AT+CMGL=4` in each). Deletes
        nothing. An undecodable PDU comes as an UnreadableSms (the caller quarantines it, then deletes it).
        """
        items: list[StoredItem] = []
        try:
            for memory in self._memories:
                try:
                    self._select_memory(memory)
                    lines = self._command("AT+CMGL=4")
                except _CommandRefused as exc:  # e.g. +CMS ERROR: 321/302 for an empty or unsupported store
                    log.warning("%s: cannot list %s: %s", self.port, memory, exc)
                    continue
                items.extend(self._parse_cmgl(lines, memory))
        finally:
            self._restore_memory()
        return items

    def delete_stored(self, item: StoredItem) -> None:
        """`AT+CMGD=<index>` in the item's memory; an item already gone (+CMS ERROR: 321) counts as deleted."""
        if item.index is None or not item.memory:
            raise ValueError(f"{item!r} is not a stored item (no memory/index)")
        try:
            self._select_memory(item.memory)
            self._command(f"AT+CMGD={item.index}")
        except _CommandRefused as exc:
            if exc.error != ("CMS", 321):
                raise ModemError(f"{self.port}: deleting {item.memory}/{item.index}: {exc}") from exc
            log.info("%s: %s/%s already deleted", self.port, item.memory, item.index)
        finally:
            self._restore_memory()

    def _parse_cmgl(self, lines: list[str], memory: str) -> list[StoredItem]:
        items: list[StoredItem] = []
        header: tuple[int, int | None] | None = None
        for line in lines:
            line = line.strip()
            if match := _CMGL.match(line):
                header = (int(match.group(1)), int(match.group(2)) if match.group(2) else None)
                continue
            if header is None or not line or line == "OK":
                continue  # the line after a header is its PDU, garbled or not
            index, stat = header
            header = None
            if stat in _STORED_OUTGOING:
                continue
            try:
                items.append(decode_pdu(line, memory=memory, index=index))
            except ValueError as exc:
                log.warning("%s: %s/%d cannot be decoded (%s): %s", self.port, memory, index, exc, line)
                items.append(UnreadableSms(memory=memory, index=index, pdu_hex=line, reason=str(exc)))
        return items

    def _storage_memories(self) -> tuple[str, ...]:
        """The read memories to sweep, from `AT+CPMS=?`: SM and ME (MT only when it is not their union), SR."""
        try:
            offered = replies.parse_cpms_memories(replies.find_line(self._command("AT+CPMS=?"), "+CPMS:"))
        except (_CommandRefused, ValueError) as exc:
            log.warning("%s: AT+CPMS=?: %s; storage cannot be read", self.port, exc)
            return ()
        wanted = [m for m in _MEMORY_ORDER if m in offered]
        if "MT" in wanted and ("SM" in wanted or "ME" in wanted):
            wanted.remove("MT")
        return tuple(wanted)

    def _select_memory(self, memory: str) -> None:
        if memory != self._read_memory:
            self._read_memory = None  # unknown until the modem confirms
            self._command(f'AT+CPMS="{memory}"')
            self._read_memory = memory

    def _restore_memory(self) -> None:
        """Never leave the read memory on another store (the library left it on "SR" after a report)."""
        if self._home_memory and self._read_memory != self._home_memory and self.is_alive():
            try:
                self._select_memory(self._home_memory)
            except (_CommandRefused, ModemUnavailable) as exc:
                log.warning("%s: could not restore read memory %s: %s", self.port, self._home_memory, exc)

    # --- one command ------------------------------------------------------------------------------------------------

    def _identify(self, command: str, *prefixes: str) -> str | None:
        """The identification reply's text; None when the modem refuses the command."""
        try:
            return replies.parse_info(self._command(command), *prefixes)
        except _CommandRefused:
            return None

    def _command(self, data: str, timeout_s: float | None = None, *, term: str = "\r",
                 prompt: bool = False, meanwhile: Callable[[], None] | None = None) -> list[str]:
        """Run one exchange on the caller's thread: response lines, URCs already taken out.

        Raises ModemUnavailable (port gone), ModemTimeout (no final answer) or _CommandRefused.
        """
        modem = self._modem
        if modem is None:
            raise ModemUnavailable(f"{self.port}: not open")
        if not modem.is_healthy():  # checked before writing: a ModemUnavailable here means nothing went out
            raise ModemUnavailable(f"{self.port}: port is gone ({modem.fatal})")
        timeout_s = self._command_timeout_s if timeout_s is None else timeout_s
        shown = data if term == "\r" else f"<pdu {len(data) // 2} octets>"
        try:
            lines = modem.exchange(data, timeout_s, term=term, prompt=prompt, meanwhile=meanwhile)
        except TimeoutException as exc:
            if modem.fatal is not None:
                raise ModemUnavailable(f"{self.port}: port failed during {shown}: {modem.fatal}") from exc
            timeout = ModemTimeout(f"{self.port}: no answer to {shown} within {timeout_s:g} s "
                                   f"(partial: {exc.data!r})")
            timeout.partial = tuple(line for line in exc.data or () if isinstance(line, str))
            raise timeout from exc
        except (serial.SerialException, OSError) as exc:
            raise ModemUnavailable(f"{self.port}: {shown}: {exc}") from exc
        if modem.fatal is not None:
            raise ModemUnavailable(f"{self.port}: port failed during {shown}: {modem.fatal}") from modem.fatal
        final = lines[-1].strip() if lines else ""
        if final.startswith(("ERROR", "+CMS ERROR", "+CME ERROR", "COMMAND NOT SUPPORT")):
            raise _CommandRefused(shown, final)
        return lines
