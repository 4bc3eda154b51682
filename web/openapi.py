"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok_status: str, ok_schema: dict, *errors: str) -> dict:
    out = {ok_status: {"description": "OK", "content": {"application/json": {"schema": ok_schema}}}}
    for status in errors:
        out[status] = {"description": "Error", "content": {"application/json": {"schema": _ERROR}}}
    return out


_PAGE = {"name": "cursor", "in": "query", "schema": {"type": "string"},
         "description": "next_cursor of the previous page"}
_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "smsgw API", "version": "1"},
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"},
                "field": {"type": ["string", "null"]}}}}},
            "SendRequest": {
                "type": "object", "additionalProperties": False, "required": ["to", "body"],
                "properties": {
                    "to": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                           "description": "E.164 number, or national in the configured default region"},
                    "body": {"type": "string", "minLength": 1},
                    "delivery_report": {"type": "boolean"},
                },
            },
            "Part": {"type": "object", "properties": {
                "seq": {"type": "integer"}, "state": {"type": "string"}, "modem": {"type": ["string", "null"]},
                "reference": {"type": ["integer", "null"], "description": "TP-MR from +CMGS"},
                "error_code": {"type": ["string", "null"]}, "sent_at": {"type": ["string", "null"]},
                "report_status": {"type": ["integer", "null"]}, "delivered_at": {"type": ["string", "null"]}}},
            "Message": {"type": "object", "properties": {
                "id": {"type": "string"}, "to": {"type": "string"}, "body": {"type": "string"},
                "state": {"enum": ["scheduled", "queued", "sending", "sent", "delivered", "failed", "expired",
                                   "cancelled", "unknown"]},
                "encoding": {"enum": ["gsm7", "ucs2"]}, "part_count": {"type": "integer"},
                "delivery_report": {"type": "boolean"}, "modem": {"type": ["string", "null"]},
                "attempts": {"type": "integer"}, "error": {"type": ["object", "null"]},
                "created_at": {"type": "string"}, "updated_at": {"type": "string"},
                "sent_at": {"type": ["string", "null"]},
                "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
                "history": {"type": "array", "items": {"type": "object"}}}},
            "InboxMessage": {"type": "object", "properties": {
                "id": {"type": "string"}, "from": {"type": "string"}, "text": {"type": "string"},
                "modem": {"type": "string"}, "part_count": {"type": "integer"}, "state": {"type": "string"},
                "sent_at": {"type": ["string", "null"]}, "received_at": {"type": "string"}}},
            "Modem": {"type": "object", "properties": {
                "name": {"type": "string"}, "port": {"type": "string"}, "state": {"type": "string"},
                "imei": {"type": ["string", "null"]}, "operator": {"type": ["string", "null"]},
                "registration": {"type": ["string", "null"]}, "signal": {"type": "object"},
                "counters": {"type": "object"}, "last_error": {"type": ["string", "null"]}}},
        },
    },
    "security": [{"bearer": []}, {"apiKey": []}],
    "paths": {
        "/api/v1/messages": {
            "post": {
                "summary": "Queue one message per recipient",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/SendRequest"}}}},
                "responses": _responses("202", {"oneOf": [
                    {"$ref": "#/components/schemas/Message"},
                    {"type": "object", "properties": {"messages": {"type": "array", "items": {
                        "$ref": "#/components/schemas/Message"}}, "count": {"type": "integer"}}}]},
                    "400", "401", "403", "413", "422"),
            },
            "get": {
                "summary": "List messages, newest first",
                "parameters": [{"name": "status", "in": "query", "schema": {"type": "string"}},
                               {"name": "to", "in": "query", "schema": {"type": "string"}}, _PAGE, _LIMIT],
                "responses": _responses("200", {"type": "object", "properties": {
                    "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                    "next_cursor": {"type": ["string", "null"]}}}, "400", "401", "403"),
            },
        },
        "/api/v1/messages/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"summary": "A message with its parts and history",
                    "responses": _responses("200", {"$ref": "#/components/schemas/Message"}, "401", "403", "404")},
            "delete": {"summary": "Cancel a queued or scheduled message",
                       "responses": _responses("200", {"$ref": "#/components/schemas/Message"},
                                               "401", "403", "404", "409")},
        },
        "/api/v1/inbox": {"get": {
            "summary": "Received messages, newest first", "parameters": [_PAGE, _LIMIT],
            "responses": _responses("200", {"type": "object", "properties": {
                "messages": {"type": "array", "items": {"$ref": "#/components/schemas/InboxMessage"}},
                "next_cursor": {"type": ["string", "null"]}}}, "401", "403")}},
        "/api/v1/modems": {"get": {
            "summary": "Every modem of this box with its last known status",
            "responses": _responses("200", {"type": "object", "properties": {
                "modems": {"type": "array", "items": {"$ref": "#/components/schemas/Modem"}}}}, "401", "403")}},
    },
}
