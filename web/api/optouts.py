"""Opt-outs: the numbers that refused marketing messages now, and every change of consent."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Annotated, TypedDict

from flask import Blueprint, Response, g

from gateway.representations import time_json
from gateway.rules.spreadsheet import safe_cell
from web.api.access import requires, service
from web.api.openapi import Content, operation
from web.schemas import doc

if TYPE_CHECKING:
    from gateway.store.models import ConsentEvent as ConsentEventRow
    from gateway.store.models import Suppression

bp = Blueprint("optouts", __name__, url_prefix="/api/v1")


class OptOut(TypedDict):
    number: str
    source: str
    since: str


class ConsentEvent(TypedDict):
    number: str
    action: Annotated[str, doc(enum=["opt_out", "opt_in"])]
    source: Annotated[str, doc(enum=["api", "sms", "admin"])]
    detail: str | None
    at: str


class OptOuts(TypedDict):
    optouts: list[OptOut]
    history: list[ConsentEvent]


class ConsentChange(TypedDict):
    number: str
    opted_out: bool
    changed: bool


def suppression_json(suppression: Suppression) -> OptOut:
    return {"number": suppression.number, "source": suppression.source, "since": time_json(suppression.since)}


def consent_event_json(event: ConsentEventRow) -> ConsentEvent:
    return {"number": event.number, "action": event.action, "source": event.source, "detail": event.detail,
            "at": time_json(event.at)}


@bp.get("/optouts")
@operation("Numbers opted out now, and every change of consent (time, source)", OptOuts)
@requires("read")
def list_optouts():
    current, history = service().consent.list_optouts()
    return {"optouts": [suppression_json(s) for s in current], "history": [consent_event_json(e) for e in history]}


@bp.get("/optouts.csv")
@operation("Every change of consent as CSV (number, action, source, detail, at)", Content("text/csv", "CSV"))
@requires("read")
def export_optouts():
    _, history = service().consent.list_optouts()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["number", "action", "source", "detail", "at"])
    for event in history:
        row = consent_event_json(event)
        writer.writerow([safe_cell(cell) for cell in (row["number"], row["action"], row["source"], row["detail"],
                                                     row["at"])])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="optouts.csv"'})


@bp.post("/optouts/<number>")
@operation("Put a number on the suppression list (admin)", ConsentChange, errors=(422,))
@requires("admin")
def add_optout(number: str):
    number, changed = service().consent.set_consent(number, opted_out=True, source="admin",
                                            detail=f"API key {g.api_key.name}")
    return {"number": number, "opted_out": True, "changed": changed}


@bp.delete("/optouts/<number>")
@operation("Take a number off the suppression list (admin)", ConsentChange, errors=(422,))
@requires("admin")
def remove_optout(number: str):
    number, changed = service().consent.set_consent(number, opted_out=False, source="admin",
                                            detail=f"API key {g.api_key.name}")
    return {"number": number, "opted_out": False, "changed": changed}
