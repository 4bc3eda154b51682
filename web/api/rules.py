"""Inbound rules: what the box does with received SMS by itself (replies, forwards, mail, webhooks, follow-up)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from flask import Blueprint, request

from gateway.core.inbound_rules import LIST_FIELDS, RULE_FIELDS, listed
from gateway.representations import time_json
from gateway.rules.inbound import TEMPLATE_FIELDS, ReceivedFacts
from web.api.access import requires, service
from web.api.openapi import operation
from web.schemas import UNSET, Request, UnsetType, decode, doc, given

if TYPE_CHECKING:
    from gateway.core.inbound_rules import RuleVerdict
    from gateway.store.models import InboundRule, RuleRun

bp = Blueprint("rules", __name__, url_prefix="/api/v1")

TEXT = doc("text with the SMS's fields: " + ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS))


class RuleFields(Request):
    enabled: bool | UnsetType = UNSET
    stop: Annotated[bool, doc("later rules are not tried on an SMS this one matches")] | UnsetType = UNSET
    keyword: Annotated[str, doc("the first word, case and accents ignored")] | None | UnsetType = UNSET
    pattern: Annotated[str, doc("a regular expression searched in the text, case ignored")] | None | UnsetType = UNSET
    senders: Annotated[list[str], doc("numbers, or prefixes ending in * (+4479*)")] | UnsetType = UNSET
    sender_groups: Annotated[list[str], doc("contact groups, one of which the sender is in")] | UnsetType = UNSET
    modem: Annotated[str, doc("the receiving modem")] | None | UnsetType = UNSET
    hours: Annotated[str, doc("local-time window, e.g. 08:00-18:00")] | None | UnsetType = UNSET
    time_zone: Annotated[str, doc("IANA zone of hours", example="Europe/London")] | UnsetType = UNSET
    reply: Annotated[str, TEXT] | None | UnsetType = UNSET
    forward_to: Annotated[list[str], doc("numbers the SMS is forwarded to")] | UnsetType = UNSET
    forward_text: Annotated[str, TEXT] | None | UnsetType = UNSET
    email_to: Annotated[list[str], doc("addresses the SMS is mailed to ([email] smtp_host needed)")] | UnsetType = UNSET
    webhook_url: Annotated[str, doc("a URL the SMS is POSTed to (message.received, signed)")] | None | UnsetType = UNSET
    follow_up: Annotated[bool, doc("flag the SMS for follow-up")] | UnsetType = UNSET
    add_to_group: Annotated[str, doc("a contact group the sender joins (made a contact if need be)")] | None \
        | UnsetType = UNSET
    remove_from_group: Annotated[str, doc("a contact group the sender leaves")] | None | UnsetType = UNSET
    position: Annotated[int, doc("0 is tried first; default: last")] | UnsetType = UNSET


class RuleRequest(RuleFields, kw_only=True):
    name: Annotated[str, doc(minLength=1, maxLength=100)]


class RuleUpdate(RuleFields):
    name: Annotated[str, doc(minLength=1, maxLength=100)] | UnsetType = UNSET


class SampleSms(Request):
    sender: Annotated[str, doc("the sender's number", example="+447911123456")]
    text: str
    modem: str = ""


class Rule(TypedDict):
    id: str
    name: str
    position: int
    enabled: bool
    stop: bool
    keyword: str | None
    pattern: str | None
    senders: list[str]
    sender_groups: list[str]
    modem: str | None
    hours: str | None
    time_zone: str
    reply: str | None
    forward_to: list[str]
    forward_text: str | None
    email_to: list[str]
    webhook_url: str | None
    follow_up: bool
    add_to_group: str | None
    remove_from_group: str | None
    created_at: str
    updated_at: str


class RuleList(TypedDict):
    rules: list[Rule]


class Verdict(TypedDict):
    rule: str
    name: str
    matched: bool
    reply: str | None
    forward_to: list[str]
    forward_text: str | None
    notify: list[str]
    follow_up: bool
    add_to_group: str | None
    remove_from_group: str | None
    stops: bool


class TestResult(TypedDict):
    verdicts: list[Verdict]


class Run(TypedDict):
    inbox_id: Annotated[str, doc("the received SMS (GET /api/v1/inbox)")]
    at: str
    replied: bool
    outcome: str


class RunList(TypedDict):
    runs: list[Run]


def rule_json(rule: InboundRule) -> Rule:
    data: dict[str, Any] = {"id": rule.uid, "position": rule.position, "created_at": time_json(rule.created_at),
                            "updated_at": time_json(rule.updated_at)}
    for name in RULE_FIELDS:
        value = getattr(rule, name)
        data[name] = listed(value) if name in LIST_FIELDS else value
    return data  # type: ignore[return-value]


def verdict_json(verdict: RuleVerdict) -> Verdict:
    return {"rule": verdict.rule.uid, "name": verdict.rule.name, "matched": verdict.matched, "reply": verdict.reply,
            "forward_to": list(verdict.forwards), "forward_text": verdict.forward_text, "notify": list(verdict.notify),
            "follow_up": verdict.matched and verdict.rule.follow_up, "add_to_group": verdict.join,
            "remove_from_group": verdict.leave, "stops": verdict.matched and verdict.rule.stop}


def _values(fields: RuleFields) -> dict[str, Any]:
    return {name: given(getattr(fields, name)) for name in RULE_FIELDS
            if getattr(fields, name) is not UNSET}


@bp.post("/rules")
@operation("Add an inbound rule (admin)", Rule, status=201, body=RuleRequest, errors=(400, 422))
@requires("admin")
def add_rule():
    new = decode(request.get_data(cache=False), RuleRequest)
    rule = service().inbound_rules.add_rule(_values(new), given(new.position))
    return rule_json(rule), 201, {"Location": f"{bp.url_prefix}/rules/{rule.uid}"}


@bp.get("/rules")
@operation("The inbound rules, in the order they are tried", RuleList)
@requires("read")
def list_rules():
    return {"rules": [rule_json(r) for r in service().inbound_rules.list_rules()]}


@bp.post("/rules/test")
@operation("What the rules would do with a made-up SMS (nothing is sent)", TestResult, body=SampleSms, errors=(400,))
@requires("read")
def test_rules():
    sample = decode(request.get_data(cache=False), SampleSms)
    rules = service().inbound_rules
    facts = ReceivedFacts(sender=sample.sender, text=sample.text, modem=sample.modem, recipient=None,
                          at=service().clock())
    return {"verdicts": [verdict_json(v) for v in rules.judge(facts, apply_guards=False)]}


@bp.get("/rules/<uid>")
@operation("An inbound rule", Rule, errors=(404,))
@requires("read")
def get_rule(uid: str):
    return rule_json(service().inbound_rules.get_rule(uid))


@bp.get("/rules/<uid>/runs")
@operation("The rule's latest runs: the received SMS it matched and what it did", RunList, errors=(404,))
@requires("read")
def rule_runs(uid: str):
    return {"runs": [{"inbox_id": r.inbox.uid, "at": time_json(r.at), "replied": r.replied, "outcome": r.outcome}
                     for r in service().inbound_rules.runs(uid)]}


@bp.put("/rules/<uid>")
@operation("Change an inbound rule, or move it (admin)", Rule, body=RuleUpdate, errors=(400, 404, 422))
@requires("admin")
def update_rule(uid: str):
    change = decode(request.get_data(cache=False), RuleUpdate)
    return rule_json(service().inbound_rules.update_rule(uid, _values(change), given(change.position)))


@bp.delete("/rules/<uid>")
@operation("Delete an inbound rule (admin)", status=204, errors=(404,))
@requires("admin")
def delete_rule(uid: str):
    service().inbound_rules.delete_rule(uid)
    return "", 204
