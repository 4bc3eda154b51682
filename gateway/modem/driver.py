"""The `ModemDriver` seam and the immutable values that cross it.

A driver is used by exactly one thread (its pool worker). Notifications that arrive on threads the
driver does not own are handed to the `on_notice` callable given at construction as immutable `Notice`
values; the driver never does port I/O on those threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol

from gateway.values import PartReceipt, ReceivedSms, StatusReport, SubmitPdu, UnreadableSms


@dataclass(frozen=True)
class ModemInfo:
    """What a modem says about itself at connect time."""

    manufacturer: str
    model: str
    revision: str
    imei: str
    imsi: str | None = None
    own_number: str | None = None  # the SIM's own number (+CNUM), when the SIM knows it


# "no_sms": registered on LTE only, without SMS over IMS or SGs (no way to send or receive SMS)
Registration = Literal["home", "roaming", "searching", "denied", "not_registered", "no_sms", "unknown"]


@dataclass(frozen=True)
class ModemStatus:
    """A health reading: signal, registration, operator and the receive memory's use."""

    rssi: int | None  # +CSQ raw value 0..31, None when unknown (99)
    signal_dbm: int | None  # -113 + 2*rssi
    registration: Registration
    operator: str | None
    storage_used: int | None = None  # SMS held in the memory new SMS are read from (+CPMS?), when known
    storage_total: int | None = None


StoredItem = ReceivedSms | StatusReport | UnreadableSms


@dataclass(frozen=True)
class Notice:
    """An unsolicited event from the modem:

    * "sms_stored" / "report_stored" / "report": something new is in storage (or a report came inline);
    * "call": an incoming voice call (RING / +CLIP, `detail` the caller when known) the worker should refuse;
    * "restarted": the modem restarted, switched its radio off or wants its PIN (`RDY`, `+CFUN: 4`,
      `+CPIN: SIM PIN`, …): reopen it;
    * "sim": its SIM went away (`detail` "absent: …") or came back ("ready");
    * "registration": its best registration over CS/GPRS/LTE changed (`detail` the new Registration value);
    * "power": a supply warning (`detail` the modem's line, e.g. `UNDER-VOLTAGE WARNNING`);
    * "fatal": the port or its reader failed.
    """

    kind: Literal["sms_stored", "report_stored", "report", "fatal", "restarted", "registration", "call", "sim",
                  "power"]
    memory: str | None = None
    index: int | None = None
    report: StatusReport | None = None
    detail: str | None = None


NoticeSink = Callable[[Notice], None]


class ModemDriver(Protocol):
    """What the pool needs from a modem. Errors are those of `gateway.errors` (ModemError family)."""

    def open(self) -> ModemInfo:
        """Open the port, initialise the modem (PDU mode, +CNMI, PIN), return its identity."""

    def close(self) -> None:
        """Close the port; idempotent."""

    def is_alive(self) -> bool:
        """False once the port or the reader died; the worker then closes and reopens."""

    def send_pdu(self, pdu: SubmitPdu, timeout_s: float,
                 meanwhile: Callable[[], None] | None = None) -> PartReceipt:
        """Send one part with AT+CMGS. Raises TemporarySendError, PermanentSendError or ModemUnavailable.

        `meanwhile()` runs on the caller's thread once the part is written, while the modem sends it (the worker
        does its bookkeeping then); it is not run when nothing was written. What it raises is logged and dropped:
        the modem's answer decides the part's fate."""

    def status(self) -> ModemStatus:
        """Read signal, registration, operator and storage use."""

    def read_stored(self) -> list[StoredItem]:
        """Every SMS and status report in every storage the modem uses (the authoritative receive path); a PDU
        that cannot be decoded comes as an UnreadableSms, to be quarantined and deleted like any other item."""

    def delete_stored(self, item: StoredItem) -> None:
        """Delete one stored item by memory and index (after it is committed)."""

    def ussd(self, code: str, timeout_s: float) -> str:
        """Send a USSD code (AT+CUSD) and return the network's answer. Raises UssdError when refused,
        UssdTimeout when no answer comes within `timeout_s`, ModemUnavailable when the port is gone."""

    def reject_call(self) -> None:
        """Hang up an incoming voice call (ATH, else AT+CHUP) so it does not block the modem."""
