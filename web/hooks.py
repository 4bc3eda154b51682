"""/api/v1 webhooks and conversations: parse, one service call, serialise."""

from __future__ import annotations

from flask import Blueprint, request

from web import schemas
from web.api import requires, service

bp = Blueprint("hooks", __name__, url_prefix="/api/v1")


@bp.post("/webhooks")
@requires("admin")
def add_webhook():
    payload = schemas.parse_webhook_request(schemas.parse_json_object(request.get_data(cache=False)))
    webhook = service().receivers.add_webhook(payload["url"], payload["events"])
    return schemas.webhook_json(webhook, with_secret=True), 201


@bp.get("/webhooks")
@requires("admin")
def list_webhooks():
    return {"webhooks": [schemas.webhook_json(w) for w in service().receivers.list_webhooks()]}


@bp.get("/webhooks/callback-secret")
@requires("admin")
def get_callback_secret():
    return {"secret": service().receivers.callback_secret()}


@bp.get("/webhooks/<uid>")
@requires("admin")
def get_webhook(uid: str):
    return schemas.webhook_json(service().receivers.get_webhook(uid))


@bp.delete("/webhooks/<uid>")
@requires("admin")
def delete_webhook(uid: str):
    service().receivers.delete_webhook(uid)
    return "", 204


@bp.get("/webhooks/<uid>/deliveries")
@requires("admin")
def list_deliveries(uid: str):
    rows = service().receivers.list_deliveries(uid, limit=request.args.get("limit", 50, type=int))
    return {"deliveries": [schemas.delivery_json(*row) for row in rows]}


@bp.post("/webhooks/<uid>/deliveries/<delivery_uid>/redeliver")
@requires("admin")
def redeliver(uid: str, delivery_uid: str):
    delivery = service().receivers.redeliver(uid, delivery_uid)
    return {"id": delivery.uid, "state": delivery.state.value}, 202


@bp.get("/conversations/<number>")
@requires("read")
def conversation(number: str):
    items = service().messages.conversation(number, limit=request.args.get("limit", 100, type=int))
    return {"messages": schemas.conversation_json(items)}
