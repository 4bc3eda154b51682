"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from gateway.store.events import EVENT_TYPES

_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok_status: str, ok_schema: dict, *errors: str) -> dict:
    out = {ok_status: {"description": "OK", "content": {"application/json": {"schema": ok_schema}}}}
    for status in (*errors, "413", "503"):
        out[status] = {"description": "Error", "content": {"application/json": {"schema": _ERROR}}}
    return out


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


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
                    "via": {"type": "string", "description": "name of the modem that must send it"},
                    "status_callback": {"type": "string", "format": "uri",
                                        "description": "http(s) URL that gets this message's events"},
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
                "report_overdue": {"type": "boolean"}, "status_callback": {"type": ["string", "null"]},
                "created_at": {"type": "string"}, "updated_at": {"type": "string"},
                "sent_at": {"type": ["string", "null"]},
                "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
                "history": {"type": "array", "items": {"type": "object"}}}},
            "InboxMessage": {"type": "object", "properties": {
                "id": {"type": "string"}, "from": {"type": "string"}, "text": {"type": "string"},
                "modem": {"type": "string"}, "part_count": {"type": "integer"}, "state": {"type": "string"},
                "sent_at": {"type": ["string", "null"]}, "received_at": {"type": "string"},
                "in_reply_to": {"type": ["string", "null"]}}},
            "Modem": {"type": "object", "properties": {
                "name": {"type": "string"}, "port": {"type": "string"}, "state": {"type": "string"},
                "imei": {"type": ["string", "null"]}, "operator": {"type": ["string", "null"]},
                "registration": {"type": ["string", "null"]}, "signal": {"type": "object"},
                "counters": {"type": "object"}, "last_error": {"type": ["string", "null"]}}},
            "WebhookRequest": {
                "type": "object", "additionalProperties": False, "required": ["url", "events"],
                "properties": {"url": {"type": "string", "format": "uri"}, "events": {
                    "type": "array", "minItems": 1, "items": {"enum": list(EVENT_TYPES)}}}},
            "Webhook": {"type": "object", "required": ["id", "url", "events"], "properties": {
                "id": {"type": "string"}, "url": {"type": "string"},
                "events": {"type": "array", "items": {"type": "string"}}, "created_at": {"type": "string"},
                "secret": {"type": "string", "description": "shown once, when the webhook is created"}}},
            "Delivery": {"type": "object", "properties": {
                "id": {"type": "string"}, "event": {"type": "object"}, "subject": {"type": "string"},
                "url": {"type": "string"}, "state": {"enum": ["pending", "in_flight", "delivered", "failed"]},
                "attempts": {"type": "integer"}, "next_attempt_at": {"type": ["string", "null"]},
                "last_status": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]},
                "created_at": {"type": "string"}, "delivered_at": {"type": ["string", "null"]},
                "history": {"type": "array", "items": {"type": "object"}}}},
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
                "next_cursor": {"type": ["string", "null"]}}}, "400", "401", "403")}},
        "/api/v1/modems": {"get": {
            "summary": "Every modem of this box with its last known status",
            "responses": _responses("200", {"type": "object", "properties": {
                "modems": {"type": "array", "items": {"$ref": "#/components/schemas/Modem"}}}}, "401", "403")}},
        "/api/v1/messages/{id}/retry": {
            "parameters": [_path("id")],
            "post": {"summary": "Queue a failed or unknown message again",
                     "responses": _responses("202", {"$ref": "#/components/schemas/Message"},
                                             "401", "403", "404", "409")}},
        "/api/v1/modems/{name}/reset": {
            "parameters": [_path("name")],
            "post": {"summary": "Close and reopen a modem (admin)",
                     "responses": _responses("202", {"type": "object", "properties": {
                         "modem": {"type": "string"}, "reset": {"type": "boolean"}}}, "401", "403", "404")}},
        "/api/v1/modems/{name}/ussd": {
            "parameters": [_path("name")],
            "post": {"summary": "Ask the network a USSD code on a modem (admin)",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["code"],
                         "properties": {"code": {"type": "string", "example": "*100#"}}}}}},
                     "responses": _responses("200", {"type": "object", "properties": {
                         "modem": {"type": "string"}, "code": {"type": "string"}, "reply": {"type": "string"}}},
                         "400", "401", "403", "404", "413", "422", "503", "504")}},
        "/api/v1/conversations/{number}": {
            "parameters": [_path("number")],
            "get": {"summary": "Both directions of the exchange with a number, oldest first",
                    "parameters": [_LIMIT],
                    "responses": _responses("200", {"type": "object", "properties": {"messages": {
                        "type": "array", "items": {"type": "object", "properties": {
                            "direction": {"enum": ["inbound", "outbound"]}, "at": {"type": "string"}}}}}},
                        "400", "401", "403", "422")}},
        "/api/v1/webhooks": {
            "post": {"summary": "Register a receiver for events (admin); its secret is shown once",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/WebhookRequest"}}}},
                     "responses": _responses("201", {"$ref": "#/components/schemas/Webhook"},
                                             "400", "401", "403", "413")},
            "get": {"summary": "Registered webhooks (admin)",
                    "responses": _responses("200", {"type": "object", "properties": {"webhooks": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}}}, "401", "403")}},
        "/api/v1/webhooks/callback-secret": {"get": {
            "summary": "The secret that signs status_callback POSTs (admin)",
            "responses": _responses("200", {"type": "object", "properties": {"secret": {"type": "string"}}},
                                    "401", "403")}},
        "/api/v1/webhooks/{id}": {
            "parameters": [_path("id")],
            "get": {"summary": "A webhook (admin)",
                    "responses": _responses("200", {"$ref": "#/components/schemas/Webhook"}, "401", "403", "404")},
            "delete": {"summary": "Stop sending to a webhook (admin)",
                       "responses": {"204": {"description": "Deleted"},
                                     **_responses("200", {}, "401", "403", "404")}}},
        "/api/v1/webhooks/{id}/deliveries": {
            "parameters": [_path("id")],
            "get": {"summary": "A webhook's latest deliveries with their attempts (admin)", "parameters": [_LIMIT],
                    "responses": _responses("200", {"type": "object", "properties": {"deliveries": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Delivery"}}}},
                        "400", "401", "403", "404")}},
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver": {
            "parameters": [_path("id"), _path("delivery_id")],
            "post": {"summary": "Send a delivery again now (admin)",
                     "responses": _responses("202", {"type": "object", "properties": {
                         "id": {"type": "string"}, "state": {"type": "string"}}}, "401", "403", "404", "409")}},
        "/api/v1/openapi.json": {"get": {
            "summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {
                "schema": {"type": "object"}}}}}}},
        "/api/v1/docs": {"get": {
            "summary": "This document rendered for people (assets served by the box)", "security": [],
            "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    },
}
# "200" in the delete's error list only fills the dict shape; the operation answers 204.
del DOCUMENT["paths"]["/api/v1/webhooks/{id}"]["delete"]["responses"]["200"]

