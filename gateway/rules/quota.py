"""Accounts' quotas and routes (pure): how much an account may send per day and per month (SMS parts, and cost
units per month), the periods they count in (UTC days and calendar months, as SIM bundles), and which modems,
groups or upstreams its messages may leave by.

A message counts on the day it is accepted, by its parts and its estimated cost, unless it was cancelled or
expired without leaving (`FREE_STATES`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping, Sequence

from gateway.errors import GatewayError, said
from gateway.rules.ratelimit import RateLimited
from gateway.rules.routing import Placement
from gateway.values import MessageState

FREE_STATES = (MessageState.CANCELLED, MessageState.EXPIRED)  # never left: given back to its account's quota


class QuotaExceeded(RateLimited):
    """A send past its account's quota: 429 for parts per day or month (Retry-After: when the period ends), 402
    for the monthly budget (cost units)."""

    code = "quota_exceeded"

    def __init__(self, message: str, retry_after_s: int, *, payment: bool = False) -> None:
        super().__init__(message, retry_after_s)
        self.http_status = 402 if payment else 429


class RouteNotAllowed(GatewayError):
    """A send `via` a modem, group or upstream its account may not use (403)."""

    code = "route_not_allowed"
    http_status = 403


@dataclass(frozen=True)
class Quota:
    """An account's limits; None: no limit of that kind."""

    per_day: int | None = None  # SMS parts accepted per UTC day
    per_month: int | None = None  # SMS parts accepted per calendar month (UTC)
    budget: float | None = None  # cost units per calendar month (`[[modems]] cost`, routes' and upstreams' costs)


@dataclass(frozen=True)
class Use:
    """What an account has used: parts today, parts and cost this month."""

    day_parts: int = 0
    month_parts: int = 0
    month_cost: float = 0.0


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def _next_month(now: datetime) -> datetime:
    start = month_start(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def _seconds_until(end: datetime, now: datetime) -> int:
    return max(1, math.ceil((end - now).total_seconds()))


def check(name: str, quota: Quota, use: Use, parts: int, cost: float, now: datetime) -> None:
    """QuotaExceeded when `parts` more SMS parts costing `cost` would take account `name` past `quota`."""
    if quota.per_day is not None and use.day_parts + parts > quota.per_day:
        raise QuotaExceeded(said("account %(name)r may send %(limit)d SMS parts a day: %(used)d used today, this "
                                 "needs %(parts)d", name=name, limit=quota.per_day, used=use.day_parts, parts=parts),
                            _seconds_until(day_start(now) + timedelta(days=1), now))
    if quota.per_month is not None and use.month_parts + parts > quota.per_month:
        raise QuotaExceeded(said("account %(name)r may send %(limit)d SMS parts a month: %(used)d used this month, "
                                 "this needs %(parts)d", name=name, limit=quota.per_month, used=use.month_parts,
                                 parts=parts), _seconds_until(_next_month(now), now))
    if quota.budget is not None and use.month_cost + cost > quota.budget + 1e-9:
        raise QuotaExceeded(said("account %(name)r has a budget of %(limit)s a month: %(used)s used, this costs "
                                 "%(cost)s", name=name, limit=f"{quota.budget:g}", used=f"{use.month_cost:g}",
                                 cost=f"{cost:g}"), _seconds_until(_next_month(now), now), payment=True)


def confine(placement: Placement, allowed: Sequence[str], group_of: Mapping[str, str]) -> Placement:
    """A message's placement (`Route.placement`: via_modem, route_group, fallback_group) kept inside an account's
    `allowed` routes (modem, group or upstream names; empty: any): one outside them goes to the first allowed
    route instead, and a fallback outside them is dropped. `group_of` maps each known modem to its group; a name
    that is not a modem is a group."""
    if not allowed:
        return placement
    modem, group = placement.get("via_modem"), placement.get("route_group")
    inside = may_use(modem, allowed, group_of) if modem is not None else group is not None and group in allowed
    if not inside:
        first = allowed[0]
        modem, group = (first, None) if first in group_of else (None, first)
    fallback = placement.get("fallback_group")
    return {"via_modem": modem, "route_group": group, "fallback_group": fallback if fallback in allowed else None}


def may_use(via: str, allowed: Sequence[str], group_of: Mapping[str, str]) -> bool:
    """Whether a send `via` this modem or group name stays inside `allowed` (empty: any)."""
    return not allowed or via in allowed or group_of.get(via) in allowed
