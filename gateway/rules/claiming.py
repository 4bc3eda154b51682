"""How modems share the queue when they claim (pure): the grace periods that leave a message to the other modems
or to cheaper ones first, and quiet hours checked again as a marketing message is about to leave. The outbox's
claim carries these out; gateway/core/queue_policy.py has the whole table of who decides what, when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.rules.timing import parse_quiet_window, quiet_hold, zones_of
from gateway.values import PRIORITIES

AVOID_GRACE_S = 2.0  # a modem that just failed a message leaves it to the others this long
COST_GRACE_S = 0.5  # a modem leaves a message this long to a cheaper one ready to claim it


def quiet_until(number: str, window: str | None, now: datetime) -> datetime | None:
    """When the quiet hours `window` (None: none) that hold a message to `number` at `now` end; None: not held."""
    return None if window is None else quiet_hold(now, zones_of(number), parse_quiet_window(window))


@dataclass(frozen=True)
class ClaimLimits:
    """What a worker takes of what its group may send: messages due for at least `due_after_s` (an upstream kept as
    a fallback: those no modem took in that time) whose priority number is at most `max_priority`, high-priority
    ones only once due for `urgent_after_s` (a target too slow for one-time codes); and, whatever these say, the
    messages sent `via` it by name."""

    due_after_s: float = 0.0
    max_priority: int = max(PRIORITIES.values())
    urgent_after_s: float = 0.0

    @property
    def is_limited(self) -> bool:
        return self.due_after_s > 0 or self.max_priority < max(PRIORITIES.values()) or self.urgent_after_s > 0


UNLIMITED = ClaimLimits()


@dataclass(frozen=True)
class Deferral:
    """Adaptive routing found a target worse than another (`reason`): it takes only work left `defer_s` by the
    others (`urgent_only`: only its high-priority work, as a target too slow for one-time codes), except at
    `explore`, when it claims as it would (so a SIM that recovers is measured again)."""

    reason: str
    defer_s: float
    explore: float
    urgent_only: bool = False

    def limits(self, own: ClaimLimits, roll: float) -> ClaimLimits:
        """The limits of one claim, `roll` a random number in [0, 1)."""
        if roll < self.explore:
            return own
        if self.urgent_only:
            return ClaimLimits(own.due_after_s, own.max_priority, max(own.urgent_after_s, self.defer_s))
        return ClaimLimits(max(own.due_after_s, self.defer_s), own.max_priority, own.urgent_after_s)
