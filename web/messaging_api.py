"""Templates and opt-outs under /api/v1 (issue 7, part 2): parse, one service call, serialise."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, g, request

from gateway.errors import ValidationError
from gateway.representations import time_json
from web import schemas
from web.api import requires, service
from web.idempotency import idempotent

bp = Blueprint("messaging", __name__, url_prefix="/api/v1")


# --- templates ---------------------------------------------------------------------------------


@bp.post("/templates")
@requires("admin")
def add_template():
    payload = schemas.parse_template_request(schemas.parse_json_object(request.get_data(cache=False)))
    template = service().templates.add_template(payload["name"], payload["body"], is_approved=payload.get("approved", False))
    return schemas.template_json(template), 201, {"Location": f"{bp.url_prefix}/templates/{template.name}"}


@bp.get("/templates")
@requires("read")
def list_templates():
    return {"templates": [schemas.template_json(t) for t in service().templates.list_templates()]}


@bp.get("/templates/<name>")
@requires("read")
def get_template(name: str):
    return schemas.template_json(service().templates.get_template(name))


@bp.put("/templates/<name>")
@requires("admin")
def update_template(name: str):
    payload = schemas.parse_template_request(schemas.parse_json_object(request.get_data(cache=False)),
                                             is_update=True)
    return schemas.template_json(service().templates.update_template(name, body=payload.get("body"),
                                                                     is_approved=payload.get("approved")))


@bp.delete("/templates/<name>")
@requires("admin")
def delete_template(name: str):
    service().templates.delete_template(name)
    return "", 204


# --- opt-outs ----------------------------------------------------------------------------------


@bp.get("/optouts")
@requires("read")
def list_optouts():
    current, history = service().consent.list_optouts()
    return {"optouts": [schemas.suppression_json(s) for s in current],
            "history": [schemas.consent_event_json(e) for e in history]}


@bp.get("/optouts.csv")
@requires("read")
def export_optouts():
    _, history = service().consent.list_optouts()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["number", "action", "source", "detail", "at"])
    for event in history:
        row = schemas.consent_event_json(event)
        writer.writerow([row["number"], row["action"], row["source"], row["detail"] or "", row["at"]])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="optouts.csv"'})


@bp.post("/optouts/<number>")
@requires("admin")
def add_optout(number: str):
    number, changed = service().consent.set_consent(number, opted_out=True, source="admin",
                                                    detail=f"API key {g.api_key.name}")
    return {"number": number, "opted_out": True, "changed": changed}


@bp.delete("/optouts/<number>")
@requires("admin")
def remove_optout(number: str):
    number, changed = service().consent.set_consent(number, opted_out=False, source="admin",
                                                    detail=f"API key {g.api_key.name}")
    return {"number": number, "opted_out": False, "changed": changed}


# --- one-time codes ----------------------------------------------------------------------------


@bp.post("/otp")
@requires("send")
@idempotent
def send_otp():
    payload = schemas.parse_otp_request(schemas.parse_json_object(request.get_data(cache=False)))
    record, message = service().otp.send_otp(payload["to"], template=payload.get("template"),
                                             length=payload.get("length", 6), alphabet=payload.get("alphabet", "digits"),
                                             ttl_s=payload.get("ttl"), api_key=g.api_key)
    return {"id": record.uid, "to": record.to_number, "message_id": message.uid,
            "expires_at": time_json(record.expires_at), "attempts_left": record.attempts_left}, 202


@bp.post("/otp/<uid>/verify")
@requires("send")
def verify_otp(uid: str):
    payload = schemas.parse_otp_verify_request(schemas.parse_json_object(request.get_data(cache=False)))
    result = service().otp.verify_otp(uid, payload["code"])
    return {"verified": result.verified, "attempts_left": result.attempts_left, "expired": result.expired}


# --- batches -----------------------------------------------------------------------------------


@bp.post("/batches")
@requires("send")
@idempotent
def send_batch():
    if request.mimetype != "text/csv":
        raise ValidationError("send the batch as text/csv: a header row with 'to' and the template's "
                              "parameters (or 'body'), then one row per message", field="Content-Type")
    columns, rows = schemas.parse_csv_batch(request.get_data(cache=False))
    batch, counts = service().batches.send_batch(columns, rows, template=request.args.get("template"),
                                                 message_class=request.args.get("class"), api_key=g.api_key)
    return schemas.batch_json(batch, counts), 202, {"Location": f"{bp.url_prefix}/batches/{batch.uid}"}


@bp.get("/batches/<uid>")
@requires("read")
def get_batch(uid: str):
    return schemas.batch_json(*service().batches.get_batch(uid))
