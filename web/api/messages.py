"""Outbound messages (send, list, read, cancel, retry) and the inbox of received ones."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from flask import Blueprint, g, jsonify, request
from msgspec import field

from gateway.errors import ValidationError
from gateway.representations import PRIORITY_NAMES, inbox_json, message_json, quarantine_json, waiting_json
from gateway.values import InboxState, MessageState, PartState
from web.api.access import requires, seen_by, service
from web.api.idempotency import idempotent
from web.api.openapi import CURSOR, LIMIT, Param, operation
from web.schemas import UNSET, Request, UnsetType, decode, doc, given

bp = Blueprint("messages", __name__, url_prefix="/api/v1")

CLASSES = ["transactional", "marketing"]


class SendRequest(Request):
    """Give either body or template (with params)."""

    to: Annotated[str | list[str], doc("E.164 number, or national in the configured default region")]
    body: Annotated[str, doc(minLength=1)] | UnsetType = UNSET
    template: Annotated[str, doc("name of a stored template, sent instead of body")] | UnsetType = UNSET
    params: Annotated[dict[str, Any], doc("a value for each of the template's placeholders, and no others",
                                          additionalProperties={"type": ["string", "number"]})] | UnsetType = UNSET
    delivery_report: bool | UnsetType = UNSET
    via: Annotated[str, doc("name of the modem, or of the modem group, that must send it")] | UnsetType = UNSET
    status_callback: Annotated[str, doc("http(s) URL that gets this message's events", format="uri")
                               ] | UnsetType = UNSET
    priority: Annotated[str, doc("queue order: high (OTPs) before normal before bulk",
                                 enum=list(PRIORITY_NAMES.values()))] | UnsetType = UNSET
    send_at: Annotated[str, doc("ISO 8601; held (scheduled) until then. Without an offset, time_zone says whose "
                                "local time")] | UnsetType = UNSET
    time_zone: Annotated[str, doc("IANA zone name for a send_at without offset")] | UnsetType = UNSET
    validity: Annotated[int | float | str, doc("seconds or ISO 8601 duration (PT10M): expires when not sent "
                                               "within it")] | UnsetType = UNSET
    message_class: Annotated[str, doc("marketing messages are held through the recipient's quiet hours, and "
                                      "refused to opted-out numbers (409 recipient_opted_out)", enum=CLASSES)
                             ] | UnsetType = field(default=UNSET, name="class")
    quiet_hours: Annotated[bool | str, doc("false: ignore them; a window \"21:00-08:00\" (local time) overrides "
                                           "the configured one")] | UnsetType = UNSET
    client_ref: Annotated[str, doc("the Idempotency-Key, given in the body", minLength=1, maxLength=255)
                          ] | UnsetType = UNSET

    def check(self) -> None:
        if self.template is UNSET and self.body is UNSET:
            raise ValidationError("'body' is required (or 'template' with its 'params')", field="body")
        if self.template is not UNSET and self.body is not UNSET:
            raise ValidationError("give either 'body' or 'template', not both", field="template")


class Part(TypedDict):
    seq: int
    state: Annotated[str, doc(enum=[s.value for s in PartState])]
    modem: str | None
    reference: Annotated[int | None, doc("TP-MR from +CMGS")]
    error_code: str | None
    sent_at: str | None
    report_status: int | None
    delivered_at: str | None


class Failure(TypedDict):
    code: str
    message: str | None


class HistoryEntry(TypedDict):
    state: str
    part: int | None
    modem: str | None
    detail: str | None
    at: str


class Message(TypedDict):
    """An outbound message to one recipient; `history` only when it is read alone."""

    id: str
    to: str
    body: str
    state: Annotated[str, doc(enum=[s.value for s in MessageState])]
    encoding: Annotated[str, doc(enum=["gsm7", "ucs2"])]
    part_count: int
    delivery_report: bool
    report_overdue: bool
    body_purged: Annotated[bool, doc("the body was removed after the retention period")]
    status_callback: str | None
    modem: str | None
    attempts: int
    error: Failure | None
    created_at: str
    updated_at: str
    sent_at: str | None
    parts: list[Part]
    priority: Annotated[str, doc(enum=list(PRIORITY_NAMES.values()))]
    send_at: str | None
    expires_at: str | None
    route_group: str | None
    pinned_modem: str | None
    history: NotRequired[list[HistoryEntry]]


class MessagesAccepted(TypedDict):
    messages: list[Message]
    count: int


class MessagePage(TypedDict):
    messages: list[Message]
    next_cursor: str | None


InboxMessage = TypedDict("InboxMessage", {
    "id": str, "from": str,
    "to": Annotated[str | None, doc("the receiving SIM's number, when it was known")],
    "text": Annotated[str, doc("a part that never came is marked where it belongs: [part 2 of 3 missing]")],
    "modem": str, "part_count": Annotated[int, doc("parts received")],
    "parts_expected": Annotated[int, doc("parts the sender sent")],
    "state": Annotated[str, doc(enum=[s.value for s in InboxState])],
    "sent_at": str | None, "received_at": str, "in_reply_to": str | None, "follow_up": bool,
})


class InboxPage(TypedDict):
    messages: list[InboxMessage]
    next_cursor: str | None


class QuarantinedSms(TypedDict):
    id: str
    modem: str
    memory: Annotated[str, doc("the modem storage it was read from: SM (SIM), ME (phone), ...")]
    index: int
    pdu: Annotated[str, doc("the PDU exactly as the modem gave it (hex), SMSC field first")]
    reason: str
    received_at: str


class WaitingSms(TypedDict):
    modem: str
    sender: str
    reference: Annotated[int, doc("the sender's concatenation reference")]
    parts_received: Annotated[list[int], doc("part numbers, 1-based")]
    parts_expected: int
    first_received_at: str
    flush_at: Annotated[str, doc("when what came is delivered, each missing part marked, if the rest never comes")]


class WaitingList(TypedDict):
    messages: list[WaitingSms]


class QuarantinePage(TypedDict):
    messages: list[QuarantinedSms]
    next_cursor: str | None


@bp.post("/messages")
@operation("Queue one message per recipient", Message, MessagesAccepted, status=202, body=SendRequest,
           errors=(400, 409, 422))
@requires("send")
@idempotent
def send_messages():
    send = decode(request.get_data(cache=False), SendRequest)
    body = service().templates.message_text(given(send.body), given(send.template), given(send.params),
                                            seen_by())
    messages = service().messages.send(send.to, body, delivery_report=given(send.delivery_report), via=given(send.via),
                              status_callback=given(send.status_callback), api_key=g.api_key,
                              priority=given(send.priority), send_at=given(send.send_at),
                              time_zone=given(send.time_zone), validity=given(send.validity),
                              message_class=given(send.message_class), quiet_hours=given(send.quiet_hours))
    if isinstance(send.to, str):
        response = jsonify(message_json(messages[0]))
        response.headers["Location"] = f"{bp.url_prefix}/messages/{messages[0].uid}"
    else:
        response = jsonify({"messages": [message_json(m) for m in messages], "count": len(messages)})
    response.status_code = 202
    return response


@bp.get("/messages")
@operation("List messages, newest first", MessagePage, errors=(400, 422),
           query=(Param("status", {"type": "string"}), Param("to", {"type": "string"}),
                  Param("modem", {"type": "string"}, "sent (or being sent) through this modem"),
                  Param("since", {"type": "string"}, "queued at or after this date or time (ISO 8601)"),
                  Param("batch", {"type": "string"}, "queued by this batch or campaign"), CURSOR, LIMIT))
@requires("read")
def list_messages():
    args = request.args
    page, cursor = service().messages.list_messages(
        state=args.get("status"), to=args.get("to"), modem=args.get("modem"), since=args.get("since"),
        batch=args.get("batch"), cursor=args.get("cursor"), limit=args.get("limit", 50, type=int), seen_by=seen_by())
    return {"messages": [message_json(m, with_history=False) for m in page], "next_cursor": cursor}


@bp.get("/messages/<uid>")
@operation("A message with its parts and history", Message, errors=(404,))
@requires("read")
def get_message(uid: str):
    return message_json(service().messages.get_message(uid, seen_by()))


@bp.delete("/messages/<uid>")
@operation("Cancel a queued or scheduled message", Message, errors=(404, 409))
@requires("send")
def cancel_message(uid: str):
    return message_json(service().messages.cancel(uid, seen_by()))


@bp.post("/messages/<uid>/retry")
@operation("Queue a failed or unknown message again", Message, status=202, errors=(404, 409))
@requires("send")
def retry_message(uid: str):
    return message_json(service().messages.retry(uid, seen_by())), 202


@bp.get("/inbox")
@operation("Received messages, newest first", InboxPage, errors=(400,), query=(CURSOR, LIMIT))
@requires("read")
def list_inbox():
    page, cursor = service().messages.list_inbox(cursor=request.args.get("cursor"),
                                         limit=request.args.get("limit", 50, type=int))
    return {"messages": [inbox_json(m) for m in page], "next_cursor": cursor}


@bp.get("/inbox/waiting")
@operation("Multi-part SMS still waiting for parts, oldest first; a late part after the flush completes the "
           "delivered message (message.updated)", WaitingList)
@requires("read")
def list_waiting():
    return {"messages": [waiting_json(group, flush_at) for group, flush_at in service().messages.waiting_parts()]}


@bp.get("/inbox/quarantine")
@operation("Received SMS the box could not decode or store, kept raw (newest first); the modem's copy is deleted",
           QuarantinePage, errors=(400,), query=(CURSOR, LIMIT))
@requires("read")
def list_quarantine():
    page, cursor = service().messages.list_quarantine(cursor=request.args.get("cursor"),
                                                      limit=request.args.get("limit", 50, type=int))
    return {"messages": [quarantine_json(m) for m in page], "next_cursor": cursor}
