"""Webhooks (admin): receivers of events, their deliveries with each attempt, and the callback secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NotRequired, TypedDict

from flask import Blueprint, request

from gateway.representations import time_json
from gateway.values import EVENT_TYPES, DeliveryState
from web.api.access import requires, service
from web.api.openapi import LIMIT, operation
from web.schemas import Request, decode, doc

if TYPE_CHECKING:
    from gateway.store.models import Delivery as DeliveryRow
    from gateway.store.models import DeliveryAttempt
    from gateway.store.models import Webhook as WebhookRow

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1")


class WebhookRequest(Request):
    url: Annotated[str, doc(format="uri")]
    events: Annotated[list[Annotated[str, doc(enum=list(EVENT_TYPES))]], doc(minItems=1)]


class Webhook(TypedDict):
    id: str
    url: str
    events: list[str]
    created_at: str
    secret: NotRequired[Annotated[str, doc("shown once, when the webhook is created")]]


class WebhookList(TypedDict):
    webhooks: list[Webhook]


class EventRef(TypedDict):
    id: str
    type: str


class Attempt(TypedDict):
    at: str
    status: int | None
    error: str | None
    duration_ms: float


class Delivery(TypedDict):
    """One event to one receiver, with its retry state and every attempt."""

    id: str
    event: EventRef
    subject: str
    url: str
    state: Annotated[str, doc(enum=[s.value for s in DeliveryState])]
    attempts: int
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    history: list[Attempt]


class DeliveryList(TypedDict):
    deliveries: list[Delivery]


class Redelivery(TypedDict):
    id: str
    state: str


class CallbackSecret(TypedDict):
    secret: str


def webhook_json(webhook: WebhookRow, *, with_secret: bool = False) -> Webhook:
    data: Webhook = {"id": webhook.uid, "url": webhook.url, "events": webhook.events.split(","),
                     "created_at": time_json(webhook.created_at)}
    if with_secret:
        data["secret"] = webhook.secret
    return data


def delivery_json(delivery: DeliveryRow, event: tuple[str, str], attempts: list[DeliveryAttempt]) -> Delivery:
    return {
        "id": delivery.uid, "event": {"id": event[0], "type": event[1]}, "subject": delivery.subject,
        "url": delivery.url, "state": delivery.state.value, "attempts": delivery.attempts,
        "next_attempt_at": time_json(delivery.next_attempt_at) if delivery.state.value == "pending" else None,
        "last_status": delivery.last_status, "last_error": delivery.last_error,
        "created_at": time_json(delivery.created_at), "delivered_at": time_json(delivery.delivered_at),
        "history": [{"at": time_json(a.at), "status": a.status_code, "error": a.error,
                     "duration_ms": round(a.duration_ms, 1)} for a in attempts],
    }


@bp.post("/webhooks")
@operation("Register a receiver for events (admin); its secret is shown once", Webhook, status=201,
           body=WebhookRequest, errors=(400, 422))
@requires("admin")
def add_webhook():
    hook = decode(request.get_data(cache=False), WebhookRequest)
    return webhook_json(service().receivers.add_webhook(hook.url, hook.events), with_secret=True), 201


@bp.get("/webhooks")
@operation("Registered webhooks (admin)", WebhookList)
@requires("admin")
def list_webhooks():
    return {"webhooks": [webhook_json(w) for w in service().receivers.list_webhooks()]}


@bp.get("/webhooks/callback-secret")
@operation("The secret that signs status_callback POSTs (admin)", CallbackSecret)
@requires("admin")
def get_callback_secret():
    return {"secret": service().receivers.callback_secret()}


@bp.get("/webhooks/<uid>")
@operation("A webhook (admin)", Webhook, errors=(404,))
@requires("admin")
def get_webhook(uid: str):
    return webhook_json(service().receivers.get_webhook(uid))


@bp.delete("/webhooks/<uid>")
@operation("Stop sending to a webhook (admin)", status=204, errors=(404,))
@requires("admin")
def delete_webhook(uid: str):
    service().receivers.delete_webhook(uid)
    return "", 204


@bp.get("/webhooks/<uid>/deliveries")
@operation("A webhook's latest deliveries with their attempts (admin)", DeliveryList, errors=(400, 404),
           query=(LIMIT,))
@requires("admin")
def list_deliveries(uid: str):
    rows = service().receivers.list_deliveries(uid, limit=request.args.get("limit", 50, type=int))
    return {"deliveries": [delivery_json(*row) for row in rows]}


@bp.post("/webhooks/<uid>/test")
@operation("Send the webhook a `webhook.test` event now, whatever events it takes; see it arrive in its deliveries "
           "(admin)", Redelivery, status=202, errors=(404,))
@requires("admin")
def send_test(uid: str):
    return {"id": service().receivers.send_test(uid), "state": "pending"}, 202


@bp.post("/webhooks/<uid>/deliveries/<delivery_uid>/redeliver")
@operation("Send a delivery again now (admin)", Redelivery, status=202, errors=(404, 409))
@requires("admin")
def redeliver(uid: str, delivery_uid: str):
    delivery = service().receivers.redeliver(uid, delivery_uid)
    return {"id": delivery.uid, "state": delivery.state.value}, 202
