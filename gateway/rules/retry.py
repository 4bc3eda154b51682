"""Retry timing: exponential backoff with jitter (pure)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Delay before retry number `attempt` (1-based): base·2^(attempt-1), capped, then "equal jitter"
    (half fixed, half random) so retries of many messages do not arrive in lockstep."""
    delay: float = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return delay / 2 + rng.uniform(0, delay / 2)


def next_attempt_at(attempt: int, now: datetime, base_s: float, max_s: float, rng: random.Random) -> datetime:
    return now + timedelta(seconds=backoff_s(attempt, base_s, max_s, rng))
