"""The /api/v1 blueprint: parse, one service call, serialise."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request

from gateway.core.service import GatewayService
from gateway.errors import ValidationError
from gateway.rules.ratelimit import RateLimited
from web import openapi, schemas
from web.errors import error_response
from web.idempotency import idempotent

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def service() -> GatewayService:
    """The service this app was built with."""
    return current_app.extensions["smsgw.service"]


def _token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-API-Key")


def requires(scope: str):
    """Authenticate the request's key and check it holds `scope` before the view runs."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.api_key = service().keys.authenticate(_token(), scope)
            service().keys.check_request_rate(g.api_key)
            return view(*args, **kwargs)

        return wrapper

    return decorate


@bp.post("/messages")
@requires("send")
@idempotent
def send_messages():
    payload = schemas.parse_send_request(schemas.parse_json_object(request.get_data(cache=False)))
    body = service().templates.message_text(payload.get("body"), payload.get("template"), payload.get("params"))
    messages = service().messages.send(payload["to"], body, delivery_report=payload.get("delivery_report"),
                               via=payload.get("via"), status_callback=payload.get("status_callback"),
                               api_key=g.api_key, priority=payload.get("priority"), send_at=payload.get("send_at"),
                               time_zone=payload.get("time_zone"), validity=payload.get("validity"),
                               message_class=payload.get("class"), quiet_hours=payload.get("quiet_hours"))
    if isinstance(payload["to"], str):
        response = jsonify(schemas.message_json(messages[0]))
        response.headers["Location"] = f"{bp.url_prefix}/messages/{messages[0].uid}"
    else:
        response = jsonify({"messages": [schemas.message_json(m) for m in messages], "count": len(messages)})
    response.status_code = 202
    return response


@bp.get("/messages")
@requires("read")
def list_messages():
    page, cursor = service().messages.list_messages(state=request.args.get("status"), to=request.args.get("to"),
                                            cursor=request.args.get("cursor"),
                                            limit=request.args.get("limit", 50, type=int))
    return {"messages": [schemas.message_json(m, with_history=False) for m in page], "next_cursor": cursor}


@bp.get("/messages/<uid>")
@requires("read")
def get_message(uid: str):
    return schemas.message_json(service().messages.get_message(uid))


@bp.delete("/messages/<uid>")
@requires("send")
def cancel_message(uid: str):
    return schemas.message_json(service().messages.cancel(uid))


@bp.post("/messages/<uid>/retry")
@requires("send")
def retry_message(uid: str):
    return schemas.message_json(service().messages.retry(uid)), 202


@bp.get("/inbox")
@requires("read")
def list_inbox():
    page, cursor = service().messages.list_inbox(cursor=request.args.get("cursor"),
                                         limit=request.args.get("limit", 50, type=int))
    return {"messages": [schemas.inbox_json(m) for m in page], "next_cursor": cursor}


@bp.get("/modems")
@requires("read")
def list_modems():
    return {"modems": [schemas.modem_json(m) for m in service().modems.list_modems()]}


@bp.post("/modems/<name>/reset")
@requires("admin")
def reset_modem(name: str):
    service().modems.reset_modem(name)
    return {"modem": name, "reset": True}, 202


@bp.post("/modems/<name>/ussd")
@requires("admin")
def modem_ussd(name: str):
    payload = schemas.parse_json_object(request.get_data(cache=False))
    code = payload.get("code")
    if not isinstance(code, str):
        raise ValidationError("'code' is required: a USSD code such as \"*100#\"", field="code")
    return {"modem": name, "code": code.strip(), "reply": service().modems.ussd(name, code)}


@bp.app_errorhandler(RateLimited)
def rate_limited(exc: RateLimited):
    response = error_response(exc.http_status, exc.code, exc.message, exc.field)
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


@bp.get("/routes")
@requires("read")
def explain_route():
    to = request.args.get("to")
    if not to:
        raise ValidationError("'to' is required: the number to route", field="to")
    return schemas.route_json(service().messages.explain_route(to))


@bp.get("/openapi.json")
def openapi_document():
    return openapi.DOCUMENT
