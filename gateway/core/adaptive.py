"""Adaptive routing at work: every `[routing] refresh_s` the targets' figures are read from the shared history
(gateway/store/stats.outcomes, judged by gateway/rules/adaptive.py), and with strategy "adaptive" this box's
workers are told which of them are deferred and why (the figures are read under strategy "cost" too: the status
page shows them). Every box reads the same history, so boxes sharing a database
agree on the figures; the API's route explanation shows them."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable, Mapping

from gateway.config import RoutingSettings
from gateway.core.ports import PoolControl
from gateway.rules.adaptive import ALL, Figures, Outcome, deferred, destination_of, figures, judged, too_slow
from gateway.rules.claiming import Deferral
from gateway.store import Store
from gateway.store.stats import outcomes

log = logging.getLogger(__name__)


class AdaptiveRouting:
    def __init__(self, store: Store, settings: RoutingSettings, costs: Mapping[str, float],
                 clock: Callable[[], datetime], pool: PoolControl) -> None:
        self._store, self._settings, self._costs, self._clock, self._pool = store, settings, costs, clock, pool
        self.reasons: dict[str, str] = {}  # the deferred targets of the last refresh
        self.overall: dict[str, Figures] = {}  # each target's figures over all destinations, at the last refresh

    def figures(self) -> list[Figures]:
        return figures(self._outcomes())

    def _outcomes(self) -> list[Outcome]:
        since = self._clock() - timedelta(seconds=self._settings.window_s)
        return outcomes(self._store.db, since, self._settings.window)

    def refresh(self) -> dict[str, str]:
        """Read the figures again (kept in `overall` for the status page) and, under "adaptive", defer the targets
        they condemn. The deferred ones."""
        found = self._outcomes()
        self.overall = {f.target: f for f in figures(found) if f.destination == ALL}
        if self._settings.strategy != "adaptive":
            return {}
        min_reports, settings = self._settings.min_reports, self._settings
        judged_figures = figures(judged(found, self.reasons, min_reports))
        condemned = deferred(judged_figures, self._costs, min_reports=min_reports, tolerance=settings.tolerance)
        # a deferred target comes back only as good as the best (no tolerance): its few newest parts decide, and
        # chance alone must not bring a poor SIM back
        condemned |= {target: reason for target, reason in deferred(judged_figures, self._costs,
                                                                     min_reports=min_reports, tolerance=0).items()
                      if target in self.reasons}
        deferrals = {target: Deferral(reason, settings.defer_s, settings.explore)
                     for target, reason in condemned.items()}
        for target, reason in too_slow(judged_figures, min_reports=min_reports,
                                       budget_s=settings.urgent_latency_s).items():
            deferrals.setdefault(target, Deferral(reason, settings.defer_s, settings.explore, urgent_only=True))
        reasons = {target: deferral.reason for target, deferral in deferrals.items()}
        for target in sorted(set(reasons) ^ set(self.reasons)):
            if target in reasons:
                log.warning("adaptive routing: %s deferred: %s", target, reasons[target])
            else:
                log.info("adaptive routing: %s takes work again", target)
        self.reasons = reasons
        self._pool.defer(deferrals)
        return reasons

    def towards(self, number: str) -> dict[str, tuple[Figures | None, Figures | None]]:
        """Each measured target's figures towards `number`'s destination and over all destinations."""
        destination, found = destination_of(number), self.figures()
        overall = {f.target: f for f in found if f.destination == ALL}
        there = {f.target: f for f in found if f.destination == destination}
        return {t: (there.get(t), overall.get(t)) for t in sorted(set(overall) | set(there))}
