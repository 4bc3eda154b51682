"""Settings an admin changes on the settings page or through the API while the box runs, over the config's: kept
in the database (`admin_settings`), so every box sharing it follows at once, and read where they are used.
Removing one brings back the config's value."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence, TypedDict

from gateway.config import ConfigError, MessagingSettings, RouteSettings
from gateway.errors import ValidationError, said
from gateway.rules.checks import is_amount
from gateway.rules.timing import parse_quiet_window
from gateway.store import Store

QUIET_HOURS_KEY = "messaging.quiet_hours"
ROUTES_KEY = "routing.routes"
MAX_ROUTE_RULES = 200


class QuietHours(TypedDict):
    window: str  # "21:00-08:00" (the recipient's local time); "": none
    changed: bool  # set here, not the config's `[messaging] quiet_hours`


class RouteRules(TypedDict):
    rules: list[RouteSettings]  # best first as gateway/rules/routing.py orders them (cheapest, most specific)
    changed: bool  # set here, not the config's `[[routes]]`


class BoxSettings:
    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime],
                 routes: Sequence[RouteSettings] = (), routes_changed: Callable[[], None] = lambda: None) -> None:
        """`routes`: the config's `[[routes]]`; `routes_changed` is called when this process changes them."""
        self._store, self._settings, self._clock = store, settings, clock
        self._config_routes, self._routes_changed = list(routes), routes_changed

    def quiet_hours(self) -> QuietHours:
        """The hours marketing messages are held through where each recipient lives."""
        kept = self._store.settings.get(QUIET_HOURS_KEY)
        return {"window": self._settings.quiet_hours if kept is None else kept, "changed": kept is not None}

    def quiet_window(self) -> str:
        return self.quiet_hours()["window"]

    def set_quiet_hours(self, window: str | None) -> QuietHours:
        """Hold marketing through `window` ("22:00-07:00"; "": never); None: as the config says. ValidationError
        on field `quiet_hours` for anything else."""
        if window is None:
            self._store.settings.remove(QUIET_HOURS_KEY)
        else:
            window = window.strip()
            if window:
                start, end = parse_quiet_window(window)
                window = f"{start:%H:%M}-{end:%H:%M}"
            self._store.settings.put(QUIET_HOURS_KEY, window, self._clock())
        return self.quiet_hours()

    def route_rules(self) -> RouteRules:
        """The route rules messages are placed by now: an admin's, else the config's."""
        kept = self._store.settings.get(ROUTES_KEY)
        if kept is None:
            return {"rules": list(self._config_routes), "changed": False}
        return {"rules": [RouteSettings(**rule) for rule in json.loads(kept)], "changed": True}

    def box_routes(self) -> list[RouteSettings]:
        return self.route_rules()["rules"]

    def set_route_rules(self, rules: Sequence[Mapping[str, Any]] | None) -> RouteRules:
        """Place messages by `rules` (each: match, group, cost, fallback; [] for none) on every box sharing the
        database; None: by the config's again. ValidationError naming the rule and its field."""
        if rules is None:
            self._store.settings.remove(ROUTES_KEY)
            self._routes_changed()
            return self.route_rules()
        if len(rules) > MAX_ROUTE_RULES:
            raise ValidationError(said("at most %(n)d route rules", n=MAX_ROUTE_RULES), field="rules")
        checked = [_route_rule(i, rule) for i, rule in enumerate(rules)]
        self._store.settings.put(ROUTES_KEY, json.dumps([vars(rule) for rule in checked]), self._clock())
        self._routes_changed()
        return self.route_rules()


def _route_rule(index: int, rule: Mapping[str, Any]) -> RouteSettings:
    where = f"rules[{index}]"
    match, group = rule.get("match"), rule.get("group")
    cost, fallback = rule.get("cost", 0.0), rule.get("fallback") or ""
    if not isinstance(match, str) or not isinstance(group, str) or not group.strip():
        raise ValidationError(said("rule %(n)d needs a match (\"+44\" or \"GB\") and a group", n=index + 1),
                              field=where)
    if not is_amount(cost):
        raise ValidationError(said("rule %(n)d: cost must be a number, 0 or more", n=index + 1), field=where + ".cost")
    if not isinstance(fallback, str):
        raise ValidationError(said("rule %(n)d: fallback must be a group's name", n=index + 1),
                              field=where + ".fallback")
    try:
        return RouteSettings(match.strip().upper(), group.strip(), float(cost), fallback.strip())
    except ConfigError:
        raise ValidationError(said("rule %(n)d: match must be a prefix like \"+44\" or a region like \"GB\"",
                                   n=index + 1), field=where + ".match") from None
