"""Settings an admin changes while the box runs, over its config's (gateway/core/box_settings.py)."""

from __future__ import annotations

from typing import Annotated, TypedDict

from flask import Blueprint, request

from gateway.config import RouteSettings
from gateway.core.box_settings import QuietHours, RouteRules
from web.api.access import requires, service
from web.api.openapi import operation
from web.schemas import Request, decode, doc

bp = Blueprint("box_settings", __name__, url_prefix="/api/v1")


class QuietHoursChange(Request):
    window: Annotated[str | None, doc("\"22:00-07:00\", the recipient's local time; \"\": none; null: as the "
                                      "config's [messaging] quiet_hours")]


class RouteRuleRequest(Request):
    match: Annotated[str, doc("a prefix like \"+44\" or a region like \"GB\"")]
    group: Annotated[str, doc("the modem group its messages go out on")]
    cost: Annotated[float, doc("the price of one SMS by it (of several matching rules the cheapest wins)",
                               minimum=0)] = 0.0
    fallback: Annotated[str, doc("the group used while no modem of `group` is online; \"\": none")] = ""


class RouteRulesChange(Request):
    rules: Annotated[list[RouteRuleRequest] | None, doc("every rule ([] for none); null: the config's [[routes]]")]


class RouteRule(TypedDict):
    match: str
    group: str
    cost: float
    fallback: str


class RouteRuleList(TypedDict):
    rules: list[RouteRule]
    changed: Annotated[bool, doc("set while the box runs, not the config's [[routes]]")]


def route_rules_json(rules: RouteRules) -> RouteRuleList:
    return {"rules": [_rule(r) for r in rules["rules"]], "changed": rules["changed"]}


def _rule(rule: RouteSettings | RouteRuleRequest) -> RouteRule:
    """One rule as the API writes it (one in force, or one of a change)."""
    return {"match": rule.match, "group": rule.group, "cost": rule.cost, "fallback": rule.fallback}


@bp.get("/settings/routes")
@operation("The route rules messages are placed by now (read)", RouteRuleList)
@requires("read")
def get_route_rules():
    return route_rules_json(service().box_settings.route_rules())


@bp.put("/settings/routes")
@operation("Replace the route rules for every box sharing the database, within seconds (admin)", RouteRuleList,
           body=RouteRulesChange, errors=(400,))
@requires("admin")
def set_route_rules():
    change = decode(request.get_data(cache=False), RouteRulesChange)
    rules = None if change.rules is None else [_rule(r) for r in change.rules]
    return route_rules_json(service().box_settings.set_route_rules(rules))


@bp.get("/settings/quiet-hours")
@operation("The hours marketing messages are held through where each recipient lives (read)", QuietHours)
@requires("read")
def get_quiet_hours():
    return service().box_settings.quiet_hours()


@bp.put("/settings/quiet-hours")
@operation("Change the quiet hours for every box sharing the database, at once (admin)", QuietHours,
           body=QuietHoursChange, errors=(400,))
@requires("admin")
def set_quiet_hours():
    change = decode(request.get_data(cache=False), QuietHoursChange)
    return service().box_settings.set_quiet_hours(change.window)
