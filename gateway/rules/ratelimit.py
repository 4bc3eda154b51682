"""Rate limits (pure): a modem's sending budget, and the API's per-key request windows.

SIM plans cap messages (SMS, so parts) per minute and per hour.
The worker records each part its modem sent; before claiming it asks `free_at(now)`: None when it is under
both limits, else the instant the oldest part of the full window leaves it (the worker sleeps until then and
claims nothing meanwhile, so the work goes to other modems; a message it claimed goes out whole). Sliding
windows, in memory, seeded when the modem connects with the parts the store says it sent in the last hour:
the caps hold across restarts.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta
from typing import Iterable

from gateway.errors import GatewayError

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


class SendBudget:
    """Messages per minute and per hour of one modem; 0 means no limit."""

    def __init__(self, per_minute: int = 0, per_hour: int = 0, sent: Iterable[datetime] = ()) -> None:
        """`sent`: when the parts already sent in the last hour went, oldest first."""
        self._limits = [(limit, window) for limit, window in ((per_minute, MINUTE), (per_hour, HOUR)) if limit > 0]
        self._sent: deque[datetime] = deque(sent if self._limits else ())  # send times, oldest first

    @property
    def is_limited(self) -> bool:
        return bool(self._limits)

    def record(self, at: datetime) -> None:
        if self._limits:
            self._sent.append(at)

    def free_at(self, now: datetime, in_flight: int = 0) -> datetime | None:
        """None when another message may go now (after `in_flight` more, counted as sent now), else when the next
        one may."""
        if not self._limits:
            return None
        longest = max(window for _, window in self._limits)
        while self._sent and self._sent[0] <= now - longest:
            self._sent.popleft()
        waits = []
        for limit, window in self._limits:
            in_window = [t for t in self._sent if t > now - window] + [now] * in_flight
            if len(in_window) >= limit:
                waits.append(in_window[-limit] + window)
        return max(waits) if waits else None


class RateLimited(GatewayError):
    """An API key made more requests this minute than `messaging.api_requests_per_minute` allows (429)."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def request_window(now: datetime) -> tuple[datetime, int]:
    """The fixed minute `now` falls in, and the whole seconds until it ends (for Retry-After)."""
    start = now.replace(second=0, microsecond=0)
    return start, max(1, math.ceil((start + MINUTE - now).total_seconds()))


class Bundle:
    """A SIM plan's monthly bundle: `size` SMS parts from `reset_day` (1-28, 00:00 UTC) to the next; 0: none.
    Used up, the SIM claims nothing until it renews (out-of-bundle SMS cost more). Seeded at connect with the
    parts the store says it sent since the period began."""

    def __init__(self, size: int = 0, reset_day: int = 1, used: int = 0) -> None:
        self.size, self.reset_day, self.used = size, reset_day, used
        self._period: datetime | None = None  # the start of the period `used` counts

    def period_start(self, now: datetime) -> datetime:
        start = now.replace(day=self.reset_day, hour=0, minute=0, second=0, microsecond=0)
        if start > now:
            start = (start.replace(day=1) - timedelta(days=1)).replace(day=self.reset_day)
        return start

    def renews_at(self, now: datetime) -> datetime:
        start = self.period_start(now)
        return (start.replace(day=28) + timedelta(days=4)).replace(day=self.reset_day)

    def record(self, at: datetime) -> None:
        self._roll(at)
        self.used += 1

    def free_at(self, now: datetime, in_flight: int = 0) -> datetime | None:
        """None while the bundle has parts left after `in_flight` more (or there is none), else when it renews."""
        if not self.size:
            return None
        return self.renews_at(now) if self.used_at(now) + in_flight >= self.size else None

    def used_at(self, now: datetime) -> int:
        """The parts used of the period `now` is in (0 once a new month renewed it)."""
        self._roll(now)
        return self.used

    def _roll(self, now: datetime) -> None:
        start = self.period_start(now)
        if self._period is not None and start != self._period:
            self.used = 0  # a new month: the bundle renewed
        self._period = start
