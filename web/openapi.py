"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from gateway.values import EVENT_TYPES

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
                    "via": {"type": "string", "description": "name of the modem, or of the modem group, that "
                                                             "must send it"},
                    "priority": {"enum": ["high", "normal", "bulk"],
                                 "description": "queue order: high (OTPs) before normal before bulk"},
                    "send_at": {"type": "string", "description": "ISO 8601; held (scheduled) until then. Without "
                                                                  "an offset, time_zone says whose local time"},
                    "time_zone": {"type": "string", "description": "IANA zone name for a send_at without offset"},
                    "validity": {"oneOf": [{"type": "number"}, {"type": "string"}],
                                 "description": "seconds or ISO 8601 duration (PT10M): expires when not sent "
                                                "within it"},
                    "class": {"enum": ["transactional", "marketing"],
                              "description": "marketing messages are held through the recipient's quiet hours"},
                    "quiet_hours": {"oneOf": [{"type": "boolean"}, {"type": "string"}],
                                    "description": "false: ignore them; a window \"21:00-08:00\" (local time) "
                                                   "overrides the configured one"},
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
                "report_overdue": {"type": "boolean"}, "body_purged": {"type": "boolean"},
                "status_callback": {"type": ["string", "null"]},
                "created_at": {"type": "string"}, "updated_at": {"type": "string"},
                "sent_at": {"type": ["string", "null"]},
                "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Part"}},
                "history": {"type": "array", "items": {"type": "object"}}}},
            "InboxMessage": {"type": "object", "properties": {
                "id": {"type": "string"}, "from": {"type": "string"},
                "to": {"type": ["string", "null"], "description": "the receiving SIM's number, when it was known"},
                "text": {"type": "string"},
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
        "/api/v1/routes": {"get": {
            "summary": "How a message to a number would be routed now: rule, group, candidate modems",
            "parameters": [{"name": "to", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": _responses("200", {"type": "object", "properties": {
                "to": {"type": "string"}, "reason": {"type": "string"}, "group": {"type": ["string", "null"]},
                "modem": {"type": ["string", "null"]}, "rule": {"type": ["object", "null"]},
                "candidates": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "group": {"type": "string"}, "state": {"type": "string"},
                    "cost": {"type": ["number", "null"]}, "modem_cost": {"type": "number"}}}}}},
                "400", "401", "403", "422")}},
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


# --- templates and opt-outs (issue 7, part 2) ----------------------------------------------------
_send_request = DOCUMENT["components"]["schemas"]["SendRequest"]
_send_request["required"] = ["to"]
_send_request["description"] = "Give either body or template (with params)."
_send_request["properties"].update({
    "template": {"type": "string", "description": "name of a stored template, sent instead of body"},
    "params": {"type": "object", "additionalProperties": {"type": ["string", "number"]},
               "description": "a value for each of the template's placeholders, and no others"},
})
_send_request["properties"].setdefault("class", {
    "enum": ["transactional", "marketing"],
    "description": "marketing messages to opted-out numbers are refused (409 recipient_opted_out)"})
DOCUMENT["paths"]["/api/v1/messages"]["post"]["responses"].update(_responses("202", {}, "409"))
DOCUMENT["paths"]["/api/v1/messages"]["post"]["responses"]["202"] = {
    "description": "OK", "content": {"application/json": {"schema": {"oneOf": [
        {"$ref": "#/components/schemas/Message"},
        {"type": "object", "properties": {"messages": {"type": "array", "items": {
            "$ref": "#/components/schemas/Message"}}, "count": {"type": "integer"}}}]}}}}
DOCUMENT["components"]["schemas"].update({
    "TemplateRequest": {
        "type": "object", "additionalProperties": False, "required": ["name", "body"],
        "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
                       "body": {"type": "string", "minLength": 1,
                                "description": "text with {named} placeholders; {{ and }} for literal braces"},
                       "approved": {"type": "boolean"}}},
    "TemplateUpdate": {
        "type": "object", "additionalProperties": False,
        "properties": {"body": {"type": "string", "minLength": 1}, "approved": {"type": "boolean"}}},
    "Template": {"type": "object", "properties": {
        "name": {"type": "string"}, "body": {"type": "string"},
        "placeholders": {"type": "array", "items": {"type": "string"}}, "approved": {"type": "boolean"},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"}}},
    "ConsentEvent": {"type": "object", "properties": {
        "number": {"type": "string"}, "action": {"enum": ["opt_out", "opt_in"]},
        "source": {"enum": ["api", "sms", "admin"]}, "detail": {"type": ["string", "null"]},
        "at": {"type": "string"}}},
    "ConsentChange": {"type": "object", "properties": {
        "number": {"type": "string"}, "opted_out": {"type": "boolean"}, "changed": {"type": "boolean"}}},
})
_TEMPLATE = {"$ref": "#/components/schemas/Template"}
DOCUMENT["paths"].update({
    "/api/v1/templates": {
        "post": {"summary": "Store a message template (admin)",
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/TemplateRequest"}}}},
                 "responses": _responses("201", _TEMPLATE, "400", "401", "403", "409", "413")},
        "get": {"summary": "Stored templates, by name",
                "responses": _responses("200", {"type": "object", "properties": {"templates": {
                    "type": "array", "items": _TEMPLATE}}}, "401", "403")}},
    "/api/v1/templates/{name}": {
        "parameters": [_path("name")],
        "get": {"summary": "A template", "responses": _responses("200", _TEMPLATE, "401", "403", "404")},
        "put": {"summary": "Change a template's text or approval (admin)",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/TemplateUpdate"}}}},
                "responses": _responses("200", _TEMPLATE, "400", "401", "403", "404", "413")},
        "delete": {"summary": "Delete a template (admin)",
                   "responses": {"204": {"description": "Deleted"},
                                 **{k: v for k, v in _responses("200", {}, "401", "403", "404").items()
                                    if k != "200"}}}},
    "/api/v1/optouts": {"get": {
        "summary": "Numbers opted out now, and every change of consent (time, source)",
        "responses": _responses("200", {"type": "object", "properties": {
            "optouts": {"type": "array", "items": {"type": "object", "properties": {
                "number": {"type": "string"}, "source": {"type": "string"}, "since": {"type": "string"}}}},
            "history": {"type": "array", "items": {"$ref": "#/components/schemas/ConsentEvent"}}}},
            "401", "403")}},
    "/api/v1/optouts.csv": {"get": {
        "summary": "Every change of consent as CSV (number, action, source, detail, at)",
        "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                      **{k: v for k, v in _responses("200", {}, "401", "403").items() if k != "200"}}}},
    "/api/v1/optouts/{number}": {
        "parameters": [_path("number")],
        "post": {"summary": "Put a number on the suppression list (admin)",
                 "responses": _responses("200", {"$ref": "#/components/schemas/ConsentChange"},
                                         "401", "403", "422")},
        "delete": {"summary": "Take a number off the suppression list (admin)",
                   "responses": _responses("200", {"$ref": "#/components/schemas/ConsentChange"},
                                           "401", "403", "422")}},
})

# --- one-time codes and idempotency (issue 7, part 2) --------------------------------------------
_IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": "a retried POST with the same key (per API key, 24 h) gets the first answer "
                                   "again; the same key with another body is 422 idempotency_key_reused"}
_send_request["properties"]["client_ref"] = {"type": "string", "minLength": 1, "maxLength": 255,
                                             "description": "the Idempotency-Key, given in the body"}
DOCUMENT["paths"]["/api/v1/messages"]["post"]["parameters"] = [_IDEMPOTENCY_KEY]
DOCUMENT["components"]["schemas"]["OtpRequest"] = {
    "type": "object", "additionalProperties": False, "required": ["to"],
    "properties": {"to": {"type": "string"},
                   "template": {"type": "string", "description": "a template whose one placeholder is {code}"},
                   "length": {"type": "integer", "minimum": 4, "maximum": 10, "default": 6},
                   "alphabet": {"enum": ["digits", "alnum"], "default": "digits"},
                   "ttl": {"type": "integer", "minimum": 30, "maximum": 86400,
                           "description": "seconds the code stays valid (default from the config)"},
                   "client_ref": {"type": "string", "minLength": 1, "maxLength": 255}}}
DOCUMENT["components"]["schemas"]["OtpVerifyRequest"] = {
    "type": "object", "additionalProperties": False, "required": ["code"],
    "properties": {"code": {"type": "string"}}}
DOCUMENT["paths"].update({
    "/api/v1/otp": {"post": {
        "summary": "Send a one-time code (high priority); the message list shows it masked",
        "parameters": [_IDEMPOTENCY_KEY],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/OtpRequest"}}}},
        "responses": _responses("202", {"type": "object", "properties": {
            "id": {"type": "string"}, "to": {"type": "string"}, "message_id": {"type": "string"},
            "expires_at": {"type": "string"}, "attempts_left": {"type": "integer"}}},
            "400", "401", "403", "409", "413", "422")}},
    "/api/v1/otp/{id}/verify": {
        "parameters": [_path("id")],
        "post": {"summary": "Check a one-time code; each wrong code uses an attempt up",
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/OtpVerifyRequest"}}}},
                 "responses": _responses("200", {"type": "object", "properties": {
                     "verified": {"type": "boolean"}, "attempts_left": {"type": "integer"},
                     "expired": {"type": "boolean"}}}, "400", "401", "403", "404", "413")}},
})

# --- batches (issue 7, part 2) ----------------------------------------------------------------------
_BATCH = {"type": "object", "properties": {
    "id": {"type": "string"}, "template": {"type": ["string", "null"]}, "rows": {"type": "integer"},
    "accepted": {"type": "integer"},
    "rejected": {"type": "array", "items": {"type": "object", "properties": {
        "row": {"type": "integer", "description": "line of the CSV (the header is line 1)"},
        "field": {"type": ["string", "null"]}, "code": {"type": "string"}, "message": {"type": "string"}}}},
    "counts": {"type": "object", "additionalProperties": {"type": "integer"},
               "description": "the batch's messages by state"},
    "created_at": {"type": "string"}}}
DOCUMENT["paths"].update({
    "/api/v1/batches": {"post": {
        "summary": "Queue one bulk-priority message per CSV row; bad rows are reported by row number",
        "parameters": [
            _IDEMPOTENCY_KEY,
            {"name": "template", "in": "query", "schema": {"type": "string"},
             "description": "the template to fill: the CSV's columns are 'to' and its placeholders "
                            "(without it: 'to' and 'body')"},
            {"name": "class", "in": "query", "schema": {"enum": ["transactional", "marketing"]}}],
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
        "responses": _responses("202", _BATCH, "400", "401", "403", "409", "413", "422")}},
    "/api/v1/batches/{id}": {
        "parameters": [_path("id")],
        "get": {"summary": "A batch: its rows, the rejected ones, and its messages counted by state",
                "responses": _responses("200", _BATCH, "401", "403", "404")}},
})

# --- audit and erasure (issue 6) --------------------------------------------------------------------------
_AUDIT_ENTRY = {"type": "object", "properties": {
    "id": {"type": "integer"}, "at": {"type": "string"},
    "actor": {"type": "string", "description": "the API key's name, 'admin' (status page) or 'cli'"},
    "action": {"type": "string", "description": "key.created, key.rotated, key.revoked, message.cancelled, "
                                                "message.retried, modem.reset, webhook.added, webhook.deleted, "
                                                "number.erased, login.succeeded, login.failed, login.throttled"},
    "target": {"type": ["string", "null"]}, "remote_addr": {"type": ["string", "null"]},
    "detail": {"type": ["string", "null"]}}}
DOCUMENT["paths"].update({
    "/api/v1/audit": {"get": {
        "summary": "Admin actions, newest first (admin scope)",
        "parameters": [_PAGE, _LIMIT],
        "responses": _responses("200", {"type": "object", "properties": {
            "entries": {"type": "array", "items": _AUDIT_ENTRY},
            "next_cursor": {"type": ["string", "null"]}}}, "400", "401", "403")}},
    "/api/v1/numbers/{number}": {
        "parameters": [_path("number")],
        "delete": {"summary": "Erase everything about a number (admin scope): bodies, numbers, received SMS, "
                              "events naming it, opt-out history; answers the counts",
                   "responses": _responses("200", {"type": "object", "properties": {
                       "number": {"type": "string"},
                       "erased": {"type": "object", "additionalProperties": {"type": "integer"}}}},
                       "400", "401", "403", "422")}},
})
