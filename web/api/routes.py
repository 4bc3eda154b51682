"""How a message to a number would be routed now: `GET /api/v1/routes?to=`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Mapping, TypedDict

from flask import Blueprint, request

from gateway.errors import ValidationError
from web.api.access import requires, service
from web.api.openapi import Param, operation
from web.schemas import doc

if TYPE_CHECKING:
    from gateway.rules.adaptive import Figures
    from gateway.rules.routing import Route

bp = Blueprint("routes", __name__, url_prefix="/api/v1")


class RouteRule(TypedDict):
    match: str
    group: str
    cost: float
    fallback: str | None


class Measured(TypedDict):
    """A target's last reported parts (gateway/rules/adaptive.py): towards one destination, or all ("*")."""

    destination: Annotated[str, doc("the country calling code, or \"*\" for every destination")]
    delivered: int
    failed: Annotated[int, doc("reported not delivered, or no report within messaging.report_wait_s")]
    ratio: float
    submit_p50_s: float | None
    submit_p90_s: float | None
    report_p50_s: float | None
    report_p90_s: float | None


class Candidate(TypedDict):
    name: str
    group: str
    state: str
    cost: float | None
    modem_cost: float
    towards: Annotated[Measured | None, doc("its figures towards this number's destination")]
    overall: Annotated[Measured | None, doc("its figures towards every destination")]
    deferred: Annotated[str | None, doc("why adaptive routing leaves it only the work others cannot take")]


class RouteChoice(TypedDict):
    """The rule, group and modem a message to `to` would get, and the modems that could claim it, in the order
    they would (online, then cheapest)."""

    to: str
    reason: str
    group: str | None
    modem: str | None
    rule: RouteRule | None
    candidates: list[Candidate]


def measured_json(found: Figures | None) -> Measured | None:
    if found is None:
        return None
    return {"destination": found.destination, "delivered": found.delivered, "failed": found.failed,
            "ratio": round(found.ratio, 4), "submit_p50_s": found.submit_p50_s, "submit_p90_s": found.submit_p90_s,
            "report_p50_s": found.report_p50_s, "report_p90_s": found.report_p90_s}


def route_json(route: Route, measured: Mapping[str, tuple[Figures | None, Figures | None]],
               deferred: Mapping[str, str]) -> RouteChoice:
    rule = route.rule
    return {
        "to": route.to, "reason": route.reason, "group": route.group, "modem": route.modem,
        "rule": None if rule is None else {"match": rule.match, "group": rule.group, "cost": rule.cost,
                                           "fallback": rule.fallback or None},
        "candidates": [{"name": c.name, "group": c.group, "state": c.state, "cost": c.cost,
                        "modem_cost": c.modem_cost, "towards": measured_json(measured.get(c.name, (None, None))[0]),
                        "overall": measured_json(measured.get(c.name, (None, None))[1]),
                        "deferred": deferred.get(c.name)}
                       for c in route.candidates],
    }


@bp.get("/routes")
@operation("How a message to a number would be routed now: rule, group, candidate modems and their measured delivery",
           RouteChoice, errors=(400, 422), query=(Param("to", {"type": "string"}, is_required=True),))
@requires("read")
def explain_route():
    to = request.args.get("to")
    if not to:
        raise ValidationError("'to' is required: the number to route", field="to")
    route = service().messages.explain_route(to)
    return route_json(route, service().routing.towards(route.to), service().routing.reasons)
