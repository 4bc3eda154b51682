"""The suite's time: a clock that tests move by hand (given to the service or the whole gateway as `clock=`),
and the dates its time-sensitive tests live on.

Every such date comes from `at()`, in `YEAR`. `SMSGW_TEST_YEARS_AHEAD` moves the whole suite's calendar that
many years on (tests/test_clock.py runs the time-sensitive modules so), which proves that no test depends on
today's date and that nothing reads the wall clock behind the injected one.
"""

import os
from datetime import datetime, timezone

YEAR = 2026 + int(os.environ.get("SMSGW_TEST_YEARS_AHEAD", "0"))


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A moment (UTC) in the suite's year."""
    return datetime(YEAR, month, day, hour, minute, second, tzinfo=timezone.utc)


NOON = at(11, 26, 12)


class Clock:
    def __init__(self, now: datetime = NOON) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
