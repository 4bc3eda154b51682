"""Routes that learn (pure): each target's measured delivery ratio and speed, and which targets the `adaptive`
strategy defers.

A target (a modem, or an upstream) is judged on its last reported parts: delivered, failed, or overdue (no
report within `messaging.report_wait_s`, counted as failed); parts still waiting for a report are left out. With
`min_reports` of them its ratio is known, and its expected cost per delivered part is its `cost` (at least
COST_FLOOR, so free SIMs compare by ratio) divided by that ratio. A target whose expected cost is over the best
known one's by more than `tolerance` is deferred: it takes only what has waited `defer_s` for the others (a
backlog they cannot clear) and, at `explore`, a message of its own choosing, so a SIM that recovers is measured
again; while deferred it is judged on its newest `min_reports` parts only (what its explores found), with no
tolerance, so it comes back after that many good ones rather than after its whole bad history has passed, and not
by a lucky few. One-time codes want speed
first: a target whose median time from submit to report is over `urgent_latency_s` while another's is within it
takes high-priority messages only when they have waited `defer_s` (its other work as usual). Figures are kept
per destination (the country calling code) too, for people to read.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from collections import Counter
from typing import Collection, Iterable, Literal, Mapping, Sequence

import phonenumbers

COST_FLOOR = 0.01
ALL = "*"  # the destination of a target's figures over every destination

Fate = Literal["delivered", "failed", "overdue"]


@dataclass(frozen=True)
class Outcome:
    """One reported part: the target that sent it, its recipient, its fate, and how long each step took."""

    target: str
    to_number: str
    fate: Fate
    submit_s: float | None  # written to the modem (submitting) → taken (sent)
    report_s: float | None  # taken → reported (delivered or failed)


@dataclass(frozen=True)
class Figures:
    """A target's measured figures towards one destination (ALL: every destination)."""

    target: str
    destination: str
    delivered: int
    failed: int  # failed reports and overdue ones
    submit_p50_s: float | None
    submit_p90_s: float | None
    report_p50_s: float | None
    report_p90_s: float | None

    @property
    def reported(self) -> int:
        return self.delivered + self.failed

    @property
    def ratio(self) -> float:
        return self.delivered / self.reported if self.reported else 0.0


def destination_of(number: str) -> str:
    """"+44" for a UK number: the country calling code, or "?" when the number cannot be read."""
    try:
        return f"+{phonenumbers.parse(number).country_code}"
    except phonenumbers.NumberParseException:
        return "?"


def figures(outcomes: Iterable[Outcome]) -> list[Figures]:
    """Each target's figures over all destinations (ALL) and per destination, sorted by target then destination."""
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault((outcome.target, ALL), []).append(outcome)
        groups.setdefault((outcome.target, destination_of(outcome.to_number)), []).append(outcome)
    return [_figures(target, destination, group) for (target, destination), group in sorted(groups.items())]


def _figures(target: str, destination: str, outcomes: Sequence[Outcome]) -> Figures:
    submits = [o.submit_s for o in outcomes if o.submit_s is not None]
    reports = [o.report_s for o in outcomes if o.report_s is not None and o.fate != "overdue"]
    delivered = sum(o.fate == "delivered" for o in outcomes)
    return Figures(target, destination, delivered, len(outcomes) - delivered, *_p50_p90(submits), *_p50_p90(reports))


def _p50_p90(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return statistics.median(values), cuts[8]


def judged(outcomes: Iterable[Outcome], deferred_now: Collection[str], min_reports: int) -> list[Outcome]:
    """What each target is judged on, from `outcomes` newest first: all of them, but the newest `min_reports` only
    of a target deferred now."""
    counts: Counter[str] = Counter()
    kept = []
    for outcome in outcomes:
        if outcome.target in deferred_now:
            if counts[outcome.target] >= min_reports:
                continue
            counts[outcome.target] += 1
        kept.append(outcome)
    return kept


def deferred(overall: Sequence[Figures], costs: Mapping[str, float], *, min_reports: int,
             tolerance: float) -> dict[str, str]:
    """The targets to defer (of those with `min_reports` reported parts), each with why, in words."""
    known = {f.target: f for f in overall if f.destination == ALL and f.reported >= min_reports}
    expected = {t: max(costs.get(t, 0.0), COST_FLOOR) / f.ratio if f.ratio else float("inf") for t, f in known.items()}
    if len(expected) < 2:
        return {}  # nothing to compare with: every target keeps its work
    best_target = min(expected, key=lambda t: (expected[t], t))
    best = expected[best_target]
    return {t: (f"delivers {known[t].ratio:.0%} of its last {known[t].reported} reported parts; "
                f"{best_target} delivers {known[best_target].ratio:.0%} at a lower cost per delivered SMS")
            for t, cost in expected.items() if cost > best * (1 + tolerance)}


def too_slow(overall: Sequence[Figures], *, min_reports: int, budget_s: float) -> dict[str, str]:
    """The targets too slow for one-time codes (of those with `min_reports` reported parts): their median time from
    writing a part to its report is over `budget_s` while another target's is within it; each with why."""
    known = {f.target: f for f in overall if f.destination == ALL and f.reported >= min_reports
             and f.submit_p50_s is not None and f.report_p50_s is not None}
    took = {t: (f.submit_p50_s or 0.0) + (f.report_p50_s or 0.0) for t, f in known.items()}
    fast = sorted(t for t, s in took.items() if s <= budget_s)
    if not fast:
        return {}  # every target is slow (or unknown): the fastest still has to send them
    return {t: f"too slow for one-time codes: {s:.1f} s from submit to report (median), over {budget_s:g} s; "
               f"{fast[0]} takes {took[fast[0]]:.1f} s" for t, s in took.items() if s > budget_s}
