"""Queue policy: which modem may send a message, when, and in what order. Decided here and in the pure rules it
uses (gateway/rules/), recorded on the message row, and carried out by the outbox's SQL, which decides nothing.

what                      decided when          by                                  carried out by
------------------------  --------------------  ----------------------------------  ----------------------------------
route: a modem, a group,  at enqueue            `placements` (rules.routing; an     the row's pinned_modem, route_group,
  a fallback group                              account's routes: rules.quota)      fallback_group; the claim's WHERE
failover to the fallback  a group has no modem  the row's fallback_group            Outbox.fail_over (a worker going
  group                   online                                                    offline, the sweep)
quiet hours (marketing)   at enqueue; again at  `quiet_window`, `quiet_holds`;      send_at (scheduled); the row's
                          claim                 rules.claiming.quiet_until          quiet_hours, re-checked by the claim
order                     at enqueue            priority (rules.timing)             the claim's ORDER BY priority, id
validity                  at enqueue            rules.timing                        expires_at; Outbox.release_due
cheaper modems first      each claim            `cheaper_ready_groups`;             the claim leaves a message to them
                                                rules.claiming.COST_GRACE_S         for COST_GRACE_S
a modem that just failed  the failure           rules.claiming.AVOID_GRACE_S        avoid_modem; the claim's grace
retry timing, attempts    the failure           rules.retry                         next_attempt_at; the failure record
an account's quota        at enqueue            rules.quota.check                   Outbox.insert, counted in the
                                                                                    transaction that queues
a SIM plan's rate         before each claim     rules.ratelimit.SendBudget          the worker waits (one budget each)
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from typing import Callable, Iterable, Mapping, Protocol, Sequence

from gateway.config import MessagingSettings, RouteSettings
from gateway.errors import UnknownModem
from gateway.rules.quota import RouteNotAllowed, confine, may_use
from gateway.rules.routing import DEFAULT_GROUP, ModemView, Placement, Route, Router
from gateway.rules.timing import check_message_class, parse_quiet_window, quiet_hold, zones_of
from gateway.store.models import Account
from gateway.values import MessageDraft


ROUTES_READ_S = 2.0  # how stale the route rules an admin changed may be on another box


class ModemRecords(Protocol):
    def list_modems(self) -> Sequence[ModemView]:
        """The modems as last recorded (name, group, state)."""


class InboundHistory(Protocol):
    def last_inbound_modems(self, numbers: Sequence[str]) -> dict[str, str]:
        """The modem each of `numbers` last wrote to us on (a reply goes back on it)."""


class QueuePolicy:
    """The decisions of the table above that are taken as a message is queued."""

    def __init__(self, settings: MessagingSettings, modems: ModemRecords, history: InboundHistory,
                 routes: Sequence[RouteSettings] = (), modem_costs: Mapping[str, float] | None = None,
                 box_quiet_hours: Callable[[], str] | None = None,
                 box_routes: Callable[[], Sequence[RouteSettings]] | None = None) -> None:
        """`box_quiet_hours`, `box_routes`: the box's quiet hours and route rules now (an admin may change them
        while it runs; the rules are read again at most every ROUTES_READ_S); the config's `[messaging]
        quiet_hours` and `routes` when not given."""
        self._settings = settings
        self._modems, self._history = modems, history
        self._box_quiet_hours = box_quiet_hours or (lambda: settings.quiet_hours)
        self._box_routes = box_routes
        self._modem_costs = modem_costs
        self._router, self._rules, self._rules_read = Router(routes, modem_costs), tuple(routes), -ROUTES_READ_S

    @property
    def router(self) -> Router:
        """The route rules as they are now (every box follows a change within ROUTES_READ_S)."""
        if self._box_routes is not None and time.monotonic() - self._rules_read >= ROUTES_READ_S:
            rules = tuple(self._box_routes())
            if rules != self._rules:
                self._router, self._rules = Router(rules, self._modem_costs), rules
            self._rules_read = time.monotonic()
        return self._router

    def routes_changed(self) -> None:
        """This process changed the rules: read them at the next message."""
        self._rules_read = -ROUTES_READ_S

    def quiet_window(self, message_class: str | None, quiet_hours: bool | str | None) -> str | None:
        """The quiet hours ("21:00-08:00") a message of `message_class` keeps: a marketing message's own window
        (`quiet_hours`), else the box's; None when none applies."""
        check_message_class(message_class)
        if message_class != "marketing" or quiet_hours is False:
            return None
        if isinstance(quiet_hours, str):
            start, end = parse_quiet_window(quiet_hours)
        elif box_window := self._box_quiet_hours():
            start, end = parse_quiet_window(box_window, field="messaging.quiet_hours")
        else:
            return None
        return f"{start:%H:%M}-{end:%H:%M}"

    @staticmethod
    def quiet_holds(starts: Mapping[str, datetime], window: str | None) -> dict[str, datetime]:
        """When each message may go, for the numbers whose message would start at a time (`starts`, by number) in
        their quiet hours `window`."""
        if window is None:
            return {}
        hours = parse_quiet_window(window)
        holds = {n: quiet_hold(at, zones_of(n), hours) for n, at in starts.items()}
        return {n: hold for n, hold in holds.items() if hold is not None}

    def via(self, via: str | None) -> tuple[str | None, str | None]:
        """(modem, group) that `via` names (None, None when not given); UnknownModem when it names neither."""
        if via is None:
            return None, None
        modems = self._modems.list_modems()
        if via in {m.name for m in modems}:
            return via, None
        if via in {m.group or DEFAULT_GROUP for m in modems} | {DEFAULT_GROUP}:
            return None, via
        raise UnknownModem(f"no modem or modem group named {via!r}", field="via")

    def placements(self, numbers: Sequence[str], via: str | None = None,
                   account: Account | None = None) -> dict[str, Placement]:
        """Where each number's message may go (MessageDraft's via_modem, route_group, fallback_group): where `via`
        says when given, else where a rule or a sticky reply says (`routes`), kept inside `account`'s routes (none:
        any). UnknownModem for a `via` that names nothing, RouteNotAllowed for one outside the routes."""
        allowed = account.route_list if account is not None else []
        via_modem, via_group = self.via(via)
        group_of = {m.name: m.group or DEFAULT_GROUP for m in self._modems.list_modems()} if allowed else {}
        if via is not None:
            if not may_use(via, allowed, group_of):
                raise RouteNotAllowed(f"this account may send only by {', '.join(allowed)}, not by {via!r}",
                                      field="via")
            return {n: {"via_modem": via_modem, "route_group": via_group} for n in numbers}
        routes = self.routes(numbers)
        placed: dict[str, Placement] = {n: routes[n].placement if n in routes else {} for n in numbers}
        return {n: confine(p, allowed, group_of) for n, p in placed.items()} if allowed else placed

    def priced(self, drafts: Sequence[MessageDraft], account: Account | None) -> list[MessageDraft]:
        """`drafts` with their estimated cost (parts × `cost_per_part` where each is placed) when they count against
        an `account` with a budget; as they are otherwise."""
        if account is None or account.budget is None:
            return list(drafts)
        per_part = self.cost_per_part([d.to_number for d in drafts],
                                      {d.to_number: {"via_modem": d.via_modem, "route_group": d.route_group}
                                       for d in drafts})
        return [dataclasses.replace(d, cost=len(d.parts) * per_part[d.to_number]) for d in drafts]

    def routes(self, numbers: Sequence[str]) -> dict[str, Route]:
        """Each number's route, for the numbers a rule or a sticky reply decides. The modems are read only then
        (most sends have neither: the API's hot path)."""
        sticky = self._history.last_inbound_modems(numbers)
        if not sticky and not self.router.has_rules:
            return {}
        modems = self._modems.list_modems()
        return {n: self.router.route(n, modems, sticky_modem=sticky.get(n)) for n in numbers}

    def cost_per_part(self, numbers: Sequence[str],
                      placements: Mapping[str, Placement] | None = None) -> dict[str, float]:
        """What one part to each of `numbers` would cost now, where its placement (when given) sends it: the
        matching rule's cost, else that of the first modem that would claim it (`[[modems]] cost`). The modems
        are read once."""
        numbers = list(dict.fromkeys(numbers))
        sticky = self._history.last_inbound_modems(numbers)
        modems = self._modems.list_modems()
        placed = placements or {}
        return {n: self.router.part_cost(self.router.route(n, modems, sticky_modem=sticky.get(n)), placed.get(n, {}),
                                         modems) for n in numbers}

    def explain(self, number: str) -> Route:
        """How a message to `number` would be routed now, and why."""
        sticky = self._history.last_inbound_modems([number]).get(number)
        return self.router.route(number, self._modems.list_modems(), sticky_modem=sticky)


def cheaper_ready_groups(cost: float, peers: Iterable[tuple[str, float, bool]]) -> list[str]:
    """The routing groups of `peers` ((group, cost, is ready to claim)) cheaper than `cost` that are ready: a modem
    leaves them what they may send, for COST_GRACE_S. Only this process's modems are known."""
    return sorted({group for group, peer_cost, is_ready in peers if peer_cost < cost and is_ready})
