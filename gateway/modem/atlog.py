"""A modem's last AT exchanges, redacted, for field support (`GET /api/v1/modems/<name>/log`).

The worker owns one `AtLog` per modem for the life of the process, so what a modem said before it was reopened
is still there afterwards; each driver it opens writes into it from two threads (commands from the worker's,
answers and URCs from the reader's). Redacted as they are recorded: a PIN or PUK, every PDU (a message's
number and text), and callers' numbers never enter it.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gateway.clock import Clock
from gateway.rules.masking import mask_number

AT_LOG_LINES = 200

_PIN = re.compile(r'^(AT\+CPIN=)(.*)$', re.IGNORECASE)
_PDU = re.compile(r"^(?:[0-9A-Fa-f]{2}){12,}$")  # a PDU is 12 octets or more; an IMEI or IMSI is odd digits
_CALLER = re.compile(r'^(\+CLIP:|\+CMT:|\+CRING:)\s*"([^"]*)"')


@dataclass(frozen=True)
class AtLine:
    at: datetime
    direction: Literal["sent", "received"]
    text: str


def redact(direction: Literal["sent", "received"], text: str) -> str:
    """`text` as it may be shown: PINs starred, PDUs reduced to their size, callers' numbers masked."""
    text = text.replace("\x1a", "").rstrip("\r\n")
    if direction == "sent" and (pin := _PIN.match(text)):
        return pin.group(1) + re.sub(r'"[^"]*"', '"****"', pin.group(2))
    if _PDU.match(text.strip()):
        return f"<PDU, {len(text.strip()) // 2} octets>"
    if caller := _CALLER.match(text):
        return f'{caller.group(1)} "{mask_number(caller.group(2))}"' + text[caller.end():]
    return text


class AtLog:
    """The last `AT_LOG_LINES` lines to and from one modem, oldest first. Thread-safe."""

    def __init__(self, clock: Clock, size: int = AT_LOG_LINES) -> None:
        self._clock = clock
        self._lines: deque[AtLine] = deque(maxlen=size)
        self._lock = threading.Lock()

    def sent(self, text: str) -> None:
        self._add("sent", text)

    def received(self, text: str) -> None:
        self._add("received", text)

    def _add(self, direction: Literal["sent", "received"], text: str) -> None:
        line = AtLine(self._clock(), direction, redact(direction, text))
        with self._lock:
            self._lines.append(line)

    def lines(self, limit: int = AT_LOG_LINES) -> list[AtLine]:
        with self._lock:
            return list(self._lines)[-limit:] if limit > 0 else []
