"""Both directions of the exchange with one number, oldest first."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from flask import Blueprint, request

from gateway.representations import inbox_json, message_json, time_json
from gateway.store.models import InboxMessage, Message
from web.api.access import requires, service
from web.api.openapi import LIMIT, operation
from web.schemas import doc

bp = Blueprint("conversations", __name__, url_prefix="/api/v1")


class ConversationItem(TypedDict):
    """A Message (outbound, without its history) or an InboxMessage (inbound), after its direction and time."""

    direction: Annotated[str, doc(enum=["inbound", "outbound"])]
    at: str


class Conversation(TypedDict):
    messages: list[ConversationItem]


def conversation_json(items: list[Message | InboxMessage]) -> list[dict[str, Any]]:
    return [
        {"direction": "outbound", "at": time_json(m.created_at), **message_json(m, with_history=False)}
        if isinstance(m, Message) else
        {"direction": "inbound", "at": time_json(m.received_at), **inbox_json(m)}
        for m in items
    ]


@bp.get("/conversations/<number>")
@operation("Both directions of the exchange with a number, oldest first", Conversation, errors=(400, 422),
           query=(LIMIT,))
@requires("read")
def conversation(number: str):
    items = service().messages.conversation(number, limit=request.args.get("limit", 100, type=int))
    return {"messages": conversation_json(items)}
