"""The modems of every box: their status, a reset, a USSD request, the AT log."""

from __future__ import annotations

from typing import Annotated, ClassVar, TypedDict

from flask import Blueprint, request

from gateway.representations import modem_json, time_json
from gateway.rules import checks
from gateway.values import ModemState
from web.api.access import requires, service
from web.api.openapi import LIMIT, operation
from web.schemas import Request, decode, doc

bp = Blueprint("modems", __name__, url_prefix="/api/v1")


class Signal(TypedDict):
    rssi: int | None
    dbm: int | None


class Counters(TypedDict):
    sent: int
    failed: int
    received: int


class Storage(TypedDict):
    """The memory new SMS are read from (+CPMS?): the modem refuses new SMS while it is full."""

    used: int | None
    total: int | None


class BundleUse(TypedDict):
    """Its plan's monthly bundle ([[modems]] bundle_sms): used up, it takes no work until it renews."""

    size: int
    used: Annotated[int | None, doc("SMS parts sent since the bundle last renewed")]
    resets_at: str | None


class ModemChange(TypedDict):
    group: str | None
    cost: float | None
    max_per_minute: int | None
    max_per_hour: int | None


class ModemSettingsChange(Request):
    """What an admin changes of a modem over its [[modems]] config, every field at once (null or left out: the
    config's). Its own box takes it up at once, another at its next health poll."""

    label: Annotated[str | None, doc("the name people see (\"Reception's SIM\")", max_length=64)] = None
    group: Annotated[str | None, doc("its routing group", pattern=f"^{checks.NAME.pattern}$")] = None
    cost: Annotated[float | None, doc("the price of one SMS on its plan", minimum=0)] = None
    max_per_minute: Annotated[int | None, doc("SMS a minute its plan allows; 0: no limit", minimum=0)] = None
    max_per_hour: Annotated[int | None, doc("SMS an hour its plan allows; 0: no limit", minimum=0)] = None


class Modem(TypedDict):
    """What the pool last knew about a modem (status is data: read without asking the modem)."""

    name: str
    kind: Annotated[str, doc("modem, or upstream: an HTTP provider ([[upstreams]]) standing in for one",
                             enum=["modem", "upstream"])]
    box: Annotated[str | None, doc("the gateway box whose pool runs this modem")]
    port: str
    state: Annotated[str, doc(enum=[s.value for s in ModemState])]
    imei: str | None
    manufacturer: str | None
    model: str | None
    operator: str | None
    registration: str | None
    signal: Signal
    counters: Counters
    last_error: str | None
    updated_at: str
    own_number: Annotated[str | None, doc("the SIM's number, when known")]
    balance: Annotated[str | None, doc("the network's answer to the balance USSD code")]
    balance_checked_at: str | None
    group: Annotated[str | None, doc("its routing group")]
    label: Annotated[str | None, doc("the name people see, as an admin set it")]
    changed: Annotated[ModemChange, doc("what an admin changed of its config while the box runs (null: the config's)")]
    storage: Storage
    degraded_since: Annotated[str | None, doc("its canary probe did not arrive: it sends only its own probes")]
    bundle: BundleUse | None


class ModemList(TypedDict):
    modems: list[Modem]


class ModemReset(TypedDict):
    modem: str
    reset: bool


class AtLogLine(TypedDict):
    at: str
    direction: Annotated[str, doc(enum=["sent", "received"])]
    text: Annotated[str, doc("redacted: PINs starred, PDUs as their size, callers' numbers masked")]


class AtLogPage(TypedDict):
    modem: str
    lines: list[AtLogLine]


class UssdRequest(Request, forbid_unknown_fields=False):
    refusals: ClassVar[dict[str, str]] = {"code": "'code' is required: a USSD code such as \"*100#\""}

    code: Annotated[str, doc(example="*100#")]


class UssdReply(TypedDict):
    modem: str
    code: str
    reply: str


@bp.get("/modems")
@operation("Every modem of this box with its last known status", ModemList)
@requires("read")
def list_modems():
    return {"modems": [modem_json(m) for m in service().modems.list_modems()]}


@bp.put("/modems/<name>/settings")
@operation("Change a modem's label, group, cost and caps over its config, while the box runs (admin)", Modem,
           body=ModemSettingsChange, errors=(400, 404))
@requires("admin")
def change_modem(name: str):
    change = decode(request.get_data(cache=False), ModemSettingsChange)
    return modem_json(service().modems.change_modem(
        name, label=change.label, group=change.group, cost=change.cost, max_per_minute=change.max_per_minute,
        max_per_hour=change.max_per_hour))


@bp.post("/modems/<name>/reset")
@operation("Close and reopen a modem (admin)", ModemReset, status=202, errors=(404,))
@requires("admin")
def reset_modem(name: str):
    service().modems.reset_modem(name)
    return {"modem": name, "reset": True}, 202


@bp.get("/modems/<name>/log")
@operation("The modem's last AT commands, answers and unsolicited lines, oldest first, redacted (admin; for field "
           "support)", AtLogPage, errors=(404,), query=(LIMIT,))
@requires("admin")
def modem_log(name: str):
    limit = request.args.get("limit", 100, type=int)
    return {"modem": name, "lines": [{"at": time_json(line.at), "direction": line.direction, "text": line.text}
                                     for line in service().modems.at_log(name, limit)]}


@bp.post("/modems/<name>/ussd")
@operation("Ask the network a USSD code on a modem (admin)", UssdReply, body=UssdRequest,
           errors=(400, 404, 422, 502, 504))
@requires("admin")
def modem_ussd(name: str):
    code = decode(request.get_data(cache=False), UssdRequest).code
    return {"modem": name, "code": code.strip(), "reply": service().modems.ussd(name, code)}
