"""Pure request parsing and response shapes for the JSON API."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from gateway.errors import InvalidJson, ValidationError
from gateway.representations import inbox_json, message_json, modem_json, time_json
from gateway.rules.routing import Route
from gateway.rules.templates import placeholders
from gateway.store.models import (
    ApiKey,
    Batch,
    ConsentEvent,
    Delivery,
    DeliveryAttempt,
    InboxMessage,
    Message,
    MessageTemplate,
    Suppression,
    Webhook,
)

SEND_FIELDS = {"to": (str, list), "body": (str,), "delivery_report": (bool,), "via": (str,),
               "status_callback": (str,)}
SEND_FIELDS.update({"priority": (str,), "send_at": (str,), "time_zone": (str,),  # issue 7: gateway.rules.timing
                    "validity": (int, float, str), "class": (str,), "quiet_hours": (bool, str)})
SEND_FIELDS.update({"template": (str,), "params": (dict,)})  # instead of body: a stored template, filled
SEND_FIELDS.setdefault("class", (str,))  # transactional (default) or marketing: opted-out numbers refuse marketing
SEND_FIELDS["client_ref"] = (str,)  # the Idempotency-Key in the body (web/idempotency.py)
OTP_FIELDS = {"to": (str,), "template": (str,), "length": (int,), "alphabet": (str,), "ttl": (int,),
              "client_ref": (str,)}
OTP_VERIFY_FIELDS = {"code": (str,)}
WEBHOOK_FIELDS = {"url": (str,), "events": (list,)}
REQUIRED_SEND_FIELDS = ("to",)  # and either body or template
TEMPLATE_FIELDS = {"name": (str,), "body": (str,), "approved": (bool,)}
TEMPLATE_UPDATE_FIELDS = {"body": (str,), "approved": (bool,)}


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
    if payload.get("template") is None and payload.get("body") is None:
        raise ValidationError("'body' is required (or 'template' with its 'params')", field="body")
    if payload.get("template") is not None and payload.get("body") is not None:
        raise ValidationError("give either 'body' or 'template', not both", field="template")
    return payload


def parse_otp_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields of POST /api/v1/otp."""
    return _check_fields(payload, OTP_FIELDS, ("to",))


def parse_otp_verify_request(payload: dict[str, Any]) -> dict[str, Any]:
    return _check_fields(payload, OTP_VERIFY_FIELDS, ("code",))


def parse_template_request(payload: dict[str, Any], *, is_update: bool = False) -> dict[str, Any]:
    """The fields of POST /api/v1/templates (or of PUT /api/v1/templates/<name> when `is_update`)."""
    if is_update:
        return _check_fields(payload, TEMPLATE_UPDATE_FIELDS, ())
    return _check_fields(payload, TEMPLATE_FIELDS, ("name", "body"))


def template_json(template: MessageTemplate) -> dict[str, Any]:
    return {"name": template.name, "body": template.body, "placeholders": placeholders(template.body),
            "approved": template.is_approved, "created_at": time_json(template.created_at),
            "updated_at": time_json(template.updated_at)}


def suppression_json(suppression: Suppression) -> dict[str, Any]:
    return {"number": suppression.number, "source": suppression.source, "since": time_json(suppression.since)}


def consent_event_json(event: ConsentEvent) -> dict[str, Any]:
    return {"number": event.number, "action": event.action, "source": event.source, "detail": event.detail,
            "at": time_json(event.at)}


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


def route_json(route: Route) -> dict[str, Any]:
    rule = route.rule
    return {
        "to": route.to, "reason": route.reason, "group": route.group, "modem": route.modem,
        "rule": None if rule is None else {"match": rule.match, "group": rule.group, "cost": rule.cost,
                                           "fallback": rule.fallback or None},
        "candidates": [{"name": c.name, "group": c.group, "state": c.state, "cost": c.cost,
                        "modem_cost": c.modem_cost}
                       for c in route.candidates],
    }


def key_json(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": key.scopes.split(","),
            "created_at": time_json(key.created_at), "last_used_at": time_json(key.last_used_at),
            "revoked_at": time_json(key.revoked_at)}


__all__ = ["parse_json_object", "parse_send_request", "parse_webhook_request", "message_json", "inbox_json",
           "modem_json", "key_json", "webhook_json", "delivery_json", "conversation_json"]


def parse_csv_batch(raw: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV upload: its header's columns and each data row with its row number (the header is row 1)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the CSV is not valid UTF-8 (byte {exc.start})", field="body") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "to" not in columns:
        raise ValidationError("the CSV's first row must be a header with a 'to' column", field="to")
    if len(set(columns)) != len(columns):
        raise ValidationError("the CSV header names a column twice", field="body")
    reader.fieldnames = columns
    try:
        rows = [(reader.line_num, row) for row in reader
                if None in row or any(isinstance(v, str) and v.strip() for v in row.values())]  # not blank lines
    except csv.Error as exc:
        raise ValidationError(f"the CSV is malformed at line {reader.line_num}: {exc}", field="body") from exc
    return columns, rows


def batch_json(batch: Batch, counts: dict[str, int]) -> dict[str, Any]:
    return {"id": batch.uid, "template": batch.template, "rows": batch.row_count, "accepted": batch.accepted,
            "rejected": json.loads(batch.rejected), "counts": counts, "created_at": time_json(batch.created_at)}
