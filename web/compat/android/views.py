"""The local API of SMS Gateway for Android (sms-gate.app): `POST /message[s]`, `GET /message[s]/<id>`,
`GET|POST /webhooks`, `DELETE /webhooks/<id>`; its official Python client works with `base_url` set to the box.

Credentials: HTTP Basic, user = the API key's name, password = the key's token. `ttl`/`validUntil` become the
message's validity, `priority` 100 and above our `high` (below 0 `bulk`), `simNumber` N the Nth modem by name;
encrypted, data and MMS messages are refused. One request to several
numbers makes one of our messages per number: its id is their ids joined with "~". Webhooks get the app's
JSON (`deviceId`, `event`, `id`, `payload`, `webhookId`) signed with X-Signature = hex HMAC-SHA256 of the raw
body + X-Timestamp under the webhook's `signingKey` (returned when it is registered)."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from gateway.doors import CallbackTarget
from gateway.errors import GatewayError
from gateway.representations import time_json
from gateway.store.models import Message
from gateway.values import MessageState
from web import schemas
from web.api import service
from web.compat.android.callbacks import EVENTS

bp = Blueprint("android", __name__)

DEVICE_ID = "smsgw"
STATE = {MessageState.SCHEDULED: "Pending", MessageState.QUEUED: "Pending", MessageState.SENDING: "Processed",
         MessageState.SENT: "Sent", MessageState.DELIVERED: "Delivered", MessageState.FAILED: "Failed",
         MessageState.EXPIRED: "Failed", MessageState.UNKNOWN: "Failed", MessageState.CANCELLED: "Cancelled"}
HISTORY_STATE = {"queued": "Pending", "sending": "Processed", "sent": "Sent", "delivered": "Delivered",
                 "failed": "Failed", "cancelled": "Cancelled"}
OUR_EVENT = {name: ours for ours, name in EVENTS.items()}
SEND_FIELDS = {"textMessage", "message", "phoneNumbers", "withDeliveryReport", "priority", "simNumber", "ttl",
               "validUntil", "isEncrypted", "deviceId"}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error(status: int, message: str):
    response = jsonify({"code": status, "message": message})
    response.status_code = status
    return response


@bp.errorhandler(Refused)
def refused(exc: Refused):
    return error(exc.status, exc.message)


@bp.errorhandler(GatewayError)
def gateway_error(exc: GatewayError):
    return error(exc.http_status, exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return error(exc.code or 500, exc.description or exc.name)


@bp.before_request
def authenticate():
    auth = request.authorization
    if auth is None or auth.type != "basic":
        raise Refused(401, "Basic authentication is required")
    scope = "read" if request.method == "GET" else "send"
    if request.path.startswith("/webhooks"):
        scope = "admin"
    g.api_key = service().keys.authenticate_pair(auth.username, auth.password, scope)


def _ids(message_id: str) -> list[str]:
    return message_id.split("~")


def state_json(messages: list[Message]) -> dict:
    states = [STATE[m.state] for m in messages]
    if len(set(states)) == 1:
        overall = states[0]
    elif "Pending" in states or "Processed" in states:
        overall = "Pending" if "Pending" in states else "Processed"
    else:
        overall = "Failed" if "Failed" in states else "Sent"
    history: dict[str, str] = {}
    for message in messages:
        for event in message.events:
            if event.part_seq is None and event.state in HISTORY_STATE:
                history.setdefault(HISTORY_STATE[event.state], time_json(event.at))
    return {"id": "~".join(m.uid for m in messages), "deviceId": DEVICE_ID, "state": overall,
            "isHashed": False, "isEncrypted": False, "createdAt": time_json(messages[0].created_at),
            "recipients": [{"phoneNumber": m.to_number, "state": STATE[m.state],
                            "error": m.error_message if STATE[m.state] == "Failed" else None} for m in messages],
            "states": history}


@bp.post("/message")
@bp.post("/messages")
def send():
    payload = schemas.parse_json_object(request.get_data(cache=False))
    unknown = sorted(set(payload) - SEND_FIELDS - {"id"})
    if unknown:
        raise Refused(400, f"unsupported field {unknown[0]!r} (data and MMS messages are not supported)")
    if payload.get("id"):
        raise Refused(400, "client-chosen message ids are not supported: use the id this gateway returns")
    if payload.get("isEncrypted"):
        raise Refused(400, "end-to-end encrypted messages are not supported")
    text_message = payload.get("textMessage")
    text = text_message.get("text") if isinstance(text_message, dict) else payload.get("message")
    numbers = payload.get("phoneNumbers")
    if not isinstance(text, str) or not text:
        raise Refused(400, "textMessage.text is required")
    if not isinstance(numbers, list) or not numbers or not all(isinstance(n, str) for n in numbers):
        raise Refused(400, "phoneNumbers must be a non-empty list of strings")
    report = payload.get("withDeliveryReport", True)
    if not isinstance(report, bool):
        raise Refused(400, "withDeliveryReport must be a boolean")
    messages = service().messages.send(numbers, text, delivery_report=report, api_key=g.api_key,
                                       via=_modem_of_sim(payload), validity=_validity_s(payload),
                                       priority=_priority(payload))
    return state_json(messages), 202


def _int_field(payload: dict, name: str, low: int, high: int) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Refused(400, f"{name} must be an integer from {low} to {high}")
    return value


def _priority(payload: dict) -> str:
    """The app's priority (-128..127): 100 and above bypass its limits, our `high`; below 0 is our `bulk`."""
    value = _int_field(payload, "priority", -128, 127) or 0
    return "high" if value >= 100 else "bulk" if value < 0 else "normal"


def _validity_s(payload: dict) -> int | None:
    """`ttl` (seconds) or `validUntil` (ISO 8601 with an offset) as seconds from now; not both."""
    ttl, valid_until = payload.get("ttl"), payload.get("validUntil")
    if ttl is not None and valid_until is not None:
        raise Refused(400, "ttl and validUntil are mutually exclusive")
    if valid_until is None:
        return _int_field(payload, "ttl", 1, 10 * 365 * 86400)
    try:
        until = datetime.fromisoformat(str(valid_until).replace("Z", "+00:00"))
    except ValueError:
        raise Refused(400, "validUntil must be an ISO 8601 date and time") from None
    if until.tzinfo is None:
        raise Refused(400, "validUntil must carry a time zone offset")
    seconds = int((until - service().clock()).total_seconds())
    if seconds <= 0:
        raise Refused(400, "validUntil is in the past")
    return seconds


def _modem_of_sim(payload: dict) -> str | None:
    """`simNumber` N (1-based) names this gateway's Nth modem, by name."""
    number = _int_field(payload, "simNumber", 1, 255)
    if number is None:
        return None
    modems = service().modems.list_modems()
    if number > len(modems):
        raise Refused(400, f"simNumber {number}: this gateway has {len(modems)} modem(s) (SIMs)")
    return modems[number - 1].name


@bp.get("/message/<message_id>")
@bp.get("/messages/<message_id>")
def get_state(message_id: str):
    return state_json([service().messages.get_message(uid) for uid in _ids(message_id)])


@bp.get("/webhooks")
def list_webhooks():
    out = []
    for webhook in service().receivers.list_webhooks():
        target = CallbackTarget.parse(webhook.url)
        if target.door == "android":
            out += [{"id": webhook.uid, "url": target.url, "event": EVENTS[e], "deviceId": DEVICE_ID}
                    for e in webhook.events.split(",")]
    return jsonify(out)


@bp.post("/webhooks")
def add_webhook():
    payload = schemas.parse_json_object(request.get_data(cache=False))
    event = OUR_EVENT.get(payload.get("event"))
    if event is None:
        raise Refused(400, f"event must be one of {', '.join(OUR_EVENT)}")
    if payload.get("id"):
        raise Refused(400, "client-chosen webhook ids are not supported")
    target = CallbackTarget("android", DEVICE_ID, str(payload.get("url") or ""))
    webhook = service().receivers.add_webhook(target, [event])
    return {"id": webhook.uid, "url": CallbackTarget.parse(webhook.url).url, "event": payload["event"],
            "deviceId": DEVICE_ID, "signingKey": webhook.secret}, 201


@bp.delete("/webhooks/<uid>")
def delete_webhook(uid: str):
    service().receivers.delete_webhook(uid)
    return "", 204
