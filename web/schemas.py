"""Pure request parsing and response shapes for the JSON API."""

from __future__ import annotations

import json
from typing import Any

from gateway.errors import InvalidJson, ValidationError
from gateway.resources import inbox_json, message_json, modem_json, time_json
from gateway.store.models import ApiKey, Delivery, DeliveryAttempt, InboxMessage, Message, Webhook

SEND_FIELDS = {"to": (str, list), "body": (str,), "delivery_report": (bool,), "via": (str,),
               "status_callback": (str,)}
WEBHOOK_FIELDS = {"url": (str,), "events": (list,)}
REQUIRED_SEND_FIELDS = ("to", "body")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a request body that must be one JSON object in UTF-8."""
    if not raw.strip():
        raise InvalidJson("the request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"the request body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}") from exc
    if not isinstance(value, dict):
        raise InvalidJson("the request body must be a JSON object")
    return value


def _check_fields(payload: dict[str, Any], fields: dict[str, tuple[type, ...]],
                  required: tuple[str, ...]) -> dict[str, Any]:
    """Known names, right types, required ones present."""
    for name in payload:
        if name not in fields:
            raise ValidationError(f"unknown field {name!r}", field=name)
    for name in required:
        if name not in payload or payload[name] is None:
            raise ValidationError(f"{name!r} is required", field=name)
    for name, value in payload.items():
        if not isinstance(value, fields[name]) or (isinstance(value, bool) and bool not in fields[name]):
            raise ValidationError(f"{name!r} has the wrong type", field=name)
    return payload


def _check_string_list(payload: dict[str, Any], name: str) -> None:
    if isinstance(payload.get(name), list) and not all(isinstance(n, str) for n in payload[name]):
        raise ValidationError(f"{name!r} must be a string or a list of strings", field=name)


def parse_send_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields of POST /api/v1/messages."""
    _check_fields(payload, SEND_FIELDS, REQUIRED_SEND_FIELDS)
    _check_string_list(payload, "to")
    return payload


def parse_webhook_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields of POST /api/v1/webhooks."""
    _check_fields(payload, WEBHOOK_FIELDS, ("url", "events"))
    _check_string_list(payload, "events")
    return payload


def webhook_json(webhook: Webhook, *, with_secret: bool = False) -> dict[str, Any]:
    data = {"id": webhook.uid, "url": webhook.url, "events": webhook.events.split(","),
            "created_at": time_json(webhook.created_at)}
    if with_secret:
        data["secret"] = webhook.secret
    return data


def delivery_json(delivery: Delivery, event: tuple[str, str], attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    return {
        "id": delivery.uid, "event": {"id": event[0], "type": event[1]}, "subject": delivery.subject,
        "url": delivery.url, "state": delivery.state.value, "attempts": delivery.attempts,
        "next_attempt_at": time_json(delivery.next_attempt_at) if delivery.state.value == "pending" else None,
        "last_status": delivery.last_status, "last_error": delivery.last_error,
        "created_at": time_json(delivery.created_at), "delivered_at": time_json(delivery.delivered_at),
        "history": [{"at": time_json(a.at), "status": a.status_code, "error": a.error,
                     "duration_ms": round(a.duration_ms, 1)} for a in attempts],
    }


def conversation_json(items: list[Message | InboxMessage]) -> list[dict[str, Any]]:
    return [
        {"direction": "outbound", "at": time_json(m.created_at), **message_json(m, with_history=False)}
        if isinstance(m, Message) else
        {"direction": "inbound", "at": time_json(m.received_at), **inbox_json(m)}
        for m in items
    ]


def key_json(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": key.scopes.split(","),
            "created_at": time_json(key.created_at), "last_used_at": time_json(key.last_used_at),
            "revoked_at": time_json(key.revoked_at)}


__all__ = ["parse_json_object", "parse_send_request", "parse_webhook_request", "message_json", "inbox_json",
           "modem_json", "key_json", "webhook_json", "delivery_json", "conversation_json"]
