"""A clock that tests move by hand, given to the service or the whole gateway as `clock=`."""

from datetime import datetime, timezone

NOON = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = NOON) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
