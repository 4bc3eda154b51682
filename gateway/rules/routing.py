"""Which modems may send a message (pure): route rules, modem groups, sticky replies.

A route is resolved once, at enqueue time, into what the message row holds: `pinned_modem` (one modem) or
`route_group` (the modems of one group), or neither (any modem), and the rule's `fallback_group`. The claim
stays one indexed statement; among the allowed modems the cheapest (`[[modems]] cost`) of those ready to claim
takes it (a dearer one leaves it to them for a moment, `COST_GRACE_S`), then whichever is idle, which is "least
loaded" (a busy worker is not claiming). The order of preference:

1. `via` names a modem or a group: that, always.
2. Sticky: the number's last inbound SMS came in on modem M and M is online: M (the reply comes from the
   number they wrote to). When M is not online, the rules decide.
3. Rules matching the number (prefix like "+44", or region like "GB" from phonenumbers), cheapest first, then
   the most specific (longest prefix; regions after prefixes), then config order: the first whose group has
   an online modem. When none has, the first rule's `fallback` group if one of its modems is online, else the
   first rule's group: the message waits for it.
4. No rule: any modem.

Failover also happens after enqueue: a queued message whose group has no modem online (nor connecting) moves
to its rule's fallback group as soon as one of that group's modems is online (`Store.fail_over`, run when a
modem comes or goes and every few seconds); it does not move back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, TypedDict

import phonenumbers

from gateway.config import RouteSettings
from gateway.values import ModemState

DEFAULT_GROUP = "default"  # the routing group of a modem that names none


class ModemView(Protocol):
    """What routing reads of a modem (the store's `Modem` row has it)."""

    name: str
    group: str | None
    state: ModemState
    changed_cost: float | None  # its cost per SMS as an admin changed it; None: the config's


@dataclass(frozen=True)
class Candidate:
    name: str
    group: str
    state: str
    cost: float | None  # the chosen rule's cost when the modem is in its group
    modem_cost: float = 0.0  # the modem's own price per message (config): among ready modems the cheapest claims


class Placement(TypedDict, total=False):
    """Where a message may go, as MessageDraft's fields: one modem, a routing group, the group it falls back to."""

    via_modem: str | None
    route_group: str | None
    fallback_group: str | None


@dataclass(frozen=True)
class Route:
    """Where a message to `to` goes, and why."""

    to: str
    reason: str
    rule: RouteSettings | None = None
    group: str | None = None  # only modems of this group (None: any, or `modem`)
    modem: str | None = None  # only this modem
    candidates: tuple[Candidate, ...] = ()
    fallback: str | None = None  # the group a queued message moves to when `group` has no modem online

    @property
    def placement(self) -> Placement:
        """What a message row keeps of the route."""
        return {"via_modem": self.modem, "route_group": self.group, "fallback_group": self.fallback}


def group_of(modem: ModemView) -> str:
    return modem.group or DEFAULT_GROUP


class Router:
    """Route rules from config, applied to the modems the store knows (their group and last state)."""

    def __init__(self, routes: Sequence[RouteSettings] = (), modem_costs: Mapping[str, float] | None = None) -> None:
        self._routes = tuple(routes)
        self._modem_costs = dict(modem_costs or {})
        self._needs_region = any(not r.match.startswith("+") for r in self._routes)

    @property
    def has_rules(self) -> bool:
        return bool(self._routes)

    def rules_for(self, number: str) -> list[RouteSettings]:
        """The rules matching E.164 `number`, best first (cheapest, most specific, config order)."""
        region = None
        if self._needs_region:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
        matching = [(r.cost, -(len(r.match) if r.match.startswith("+") else 0), i, r)
                    for i, r in enumerate(self._routes)
                    if (number.startswith(r.match) if r.match.startswith("+") else r.match == region)]
        return [r for *_, r in sorted(matching, key=lambda t: t[:3])]

    def route(self, number: str, modems: Sequence[ModemView], *, sticky_modem: str | None = None) -> Route:
        online = {m.name: m for m in modems if m.state == ModemState.ONLINE}
        online_groups = {group_of(m) for m in online.values()}
        if sticky_modem is not None and sticky_modem in online:
            return Route(number, f"sticky: {number}'s last message came in on {sticky_modem}", modem=sticky_modem,
                         candidates=self._candidates(modems, lambda m: m.name == sticky_modem, None))
        rules = self.rules_for(number) if self._routes else []
        if not rules:
            return Route(number, "no route rule matches: any modem", candidates=self._candidates(modems, None, None))
        chosen = next((r for r in rules if r.group in online_groups), None)
        if chosen is not None:
            group, reason = chosen.group, f"rule {chosen.match} → group {chosen.group}"
        else:
            chosen = rules[0]
            if chosen.fallback and chosen.fallback in online_groups:
                group, reason = chosen.fallback, (f"rule {chosen.match}: no modem of group {chosen.group} online; "
                                                  f"fallback group {chosen.fallback}")
            else:
                group, reason = chosen.group, (f"rule {chosen.match} → group {chosen.group}: no modem of it "
                                               "online; the message waits")
        cost, fallback = (chosen.cost, chosen.fallback or None) if group == chosen.group else (None, None)
        return Route(number, reason, rule=chosen, group=group, fallback=fallback if fallback != group else None,
                     candidates=self._candidates(modems, lambda m: group_of(m) == group, cost))


    def part_cost(self, route: Route, placement: Placement, modems: Sequence[ModemView]) -> float:
        """What one part costs where `placement` sends a message whose route is `route`: the rule's cost when the
        message stays in the rule's group, else the cost of the first modem that would claim it."""
        modem, group = placement.get("via_modem"), placement.get("route_group")
        if modem is None and group is None or route.rule is not None and group == route.group:
            candidates = route.candidates
            if route.rule is not None:
                return route.rule.cost
        else:
            candidates = self._candidates(modems, lambda m: m.name == modem if modem else group_of(m) == group, None)
        return candidates[0].modem_cost if candidates else 0.0

    def _candidates(self, modems: Sequence[ModemView], allowed: Callable[[ModemView], bool] | None,
                    cost: float | None) -> tuple[Candidate, ...]:
        """The allowed modems in the order they would claim: online first, then cheapest, then by name."""
        chosen = [m for m in modems if allowed is None or allowed(m)]
        chosen.sort(key=lambda m: (m.state != ModemState.ONLINE, self._cost_of(m), m.name))
        return tuple(Candidate(m.name, group_of(m), m.state.value, cost, self._cost_of(m)) for m in chosen)

    def _cost_of(self, modem: ModemView) -> float:
        """A modem's cost per SMS: as an admin changed it, else its config's."""
        return modem.changed_cost if modem.changed_cost is not None else self._modem_costs.get(modem.name, 0.0)

