"""How a message to a number would be routed now: `GET /api/v1/routes?to=`."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from flask import Blueprint, request

from gateway.errors import ValidationError
from web.api.access import requires, service
from web.api.openapi import Param, operation

if TYPE_CHECKING:
    from gateway.rules.routing import Route

bp = Blueprint("routes", __name__, url_prefix="/api/v1")


class RouteRule(TypedDict):
    match: str
    group: str
    cost: float
    fallback: str | None


class Candidate(TypedDict):
    name: str
    group: str
    state: str
    cost: float | None
    modem_cost: float


class RouteChoice(TypedDict):
    """The rule, group and modem a message to `to` would get, and the modems that could claim it, in the order
    they would (online, then cheapest)."""

    to: str
    reason: str
    group: str | None
    modem: str | None
    rule: RouteRule | None
    candidates: list[Candidate]


def route_json(route: Route) -> RouteChoice:
    rule = route.rule
    return {
        "to": route.to, "reason": route.reason, "group": route.group, "modem": route.modem,
        "rule": None if rule is None else {"match": rule.match, "group": rule.group, "cost": rule.cost,
                                           "fallback": rule.fallback or None},
        "candidates": [{"name": c.name, "group": c.group, "state": c.state, "cost": c.cost,
                        "modem_cost": c.modem_cost}
                       for c in route.candidates],
    }


@bp.get("/routes")
@operation("How a message to a number would be routed now: rule, group, candidate modems", RouteChoice,
           errors=(400, 422), query=(Param("to", {"type": "string"}, is_required=True),))
@requires("read")
def explain_route():
    to = request.args.get("to")
    if not to:
        raise ValidationError("'to' is required: the number to route", field="to")
    return route_json(service().messages.explain_route(to))
