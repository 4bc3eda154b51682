"""Pure request parsing and response shapes for the JSON API."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gateway.errors import InvalidJson, ValidationError
from gateway.store.models import ApiKey, InboxMessage, Message, Modem

SEND_FIELDS = {"to": (str, list), "body": (str,), "delivery_report": (bool,), "via": (str,)}
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


def parse_send_request(payload: dict[str, Any]) -> dict[str, Any]:
    """Check the fields of POST /api/v1/messages: known names, right types, required ones present."""
    for name in payload:
        if name not in SEND_FIELDS:
            raise ValidationError(f"unknown field {name!r}", field=name)
    for name in REQUIRED_SEND_FIELDS:
        if name not in payload or payload[name] is None:
            raise ValidationError(f"{name!r} is required", field=name)
    for name, value in payload.items():
        if not isinstance(value, SEND_FIELDS[name]) or (isinstance(value, bool) and bool not in SEND_FIELDS[name]):
            raise ValidationError(f"{name!r} has the wrong type", field=name)
    if isinstance(payload["to"], list) and not all(isinstance(n, str) for n in payload["to"]):
        raise ValidationError("'to' must be a string or a list of strings", field="to")
    return payload


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def message_json(message: Message, *, with_history: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": message.uid,
        "to": message.to_number,
        "body": message.body,
        "state": message.state.value,
        "encoding": message.encoding,
        "part_count": message.part_count,
        "delivery_report": message.delivery_report,
        "modem": message.modem,
        "attempts": message.attempts,
        "error": ({"code": message.error_code, "message": message.error_message}
                  if message.error_code else None),
        "created_at": _time(message.created_at),
        "updated_at": _time(message.updated_at),
        "sent_at": _time(message.sent_at),
        "parts": [
            {"seq": p.seq, "state": p.state.value, "modem": p.modem, "reference": p.reference,
             "error_code": p.error_code, "sent_at": _time(p.sent_at), "report_status": p.report_status,
             "delivered_at": _time(p.delivered_at)}
            for p in message.parts
        ],
    }
    if with_history:
        data["history"] = [
            {"state": e.state, "part": e.part_seq, "modem": e.modem, "detail": e.detail, "at": _time(e.at)}
            for e in message.events
        ]
    return data


def inbox_json(item: InboxMessage) -> dict[str, Any]:
    return {"id": item.uid, "from": item.sender, "text": item.text, "modem": item.modem,
            "part_count": item.part_count, "state": item.state.value, "sent_at": _time(item.sent_at),
            "received_at": _time(item.received_at)}


def modem_json(modem: Modem) -> dict[str, Any]:
    return {
        "name": modem.name, "port": modem.port, "state": modem.state.value, "imei": modem.imei,
        "manufacturer": modem.manufacturer, "model": modem.model, "operator": modem.operator,
        "registration": modem.registration, "signal": {"rssi": modem.rssi, "dbm": modem.signal_dbm},
        "counters": {"sent": modem.sent_count, "failed": modem.failed_count, "received": modem.received_count},
        "last_error": modem.last_error, "updated_at": _time(modem.updated_at),
    }


def key_json(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": key.scopes.split(","),
            "created_at": _time(key.created_at), "last_used_at": _time(key.last_used_at),
            "revoked_at": _time(key.revoked_at)}
