"""The gateway's one clock: the only code under `gateway/` that reads the wall clock.

A clock is any callable returning the current time as a timezone-aware UTC `datetime`. The runtime owns one
(`utcnow` unless it is given another) and passes it to the store's callers, the pool, the service, the webhook
worker and the jobs; tests pass their own (`tests/clock.py`) and move it by hand. Code that needs seconds since
the epoch (a signature's timestamp) takes `clock().timestamp()`. `time.monotonic()` stays what it is for: a
duration or a deadline inside one operation (a modem's reply timeout), never a time that is stored or shown.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(timezone.utc)
