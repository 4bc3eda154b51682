"""A Twilio-compatible Messages API under /2010-04-01/Accounts/<AccountSid>/ (the official SDKs work against
it with `client.api.base_url` pointed at the box).

Credentials (HTTP Basic, as the SDKs send them): the account SID of an API key is "AC" + the first 32 hex
digits of SHA-256(token) (`web.compat.twilio.accounts`); the password is the key's token or the account's
auth token (`GET /2010-04-01/Accounts/<sid>.json` shows it; it also signs the account's callbacks with
X-Twilio-Signature). Dates are RFC 2822; errors are Twilio's `{"code", "message", "more_info", "status"}`."""

from __future__ import annotations

from email.utils import format_datetime
from urllib.parse import urlencode

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from gateway.doors import CallbackTarget
from gateway.errors import (
    AuthError,
    ConflictError,
    GatewayError,
    InvalidBody,
    InvalidNumber,
    MessageTooLong,
    NotFound,
    ScopeError,
    StoreUnavailable,
    ValidationError,
)
from gateway.store.models import Message
from gateway.values import MessageState
from web.api import service
from web.compat.twilio import accounts, callbacks
from web.compat.twilio.callbacks import API_VERSION

bp = Blueprint("twilio", __name__, url_prefix=f"/{API_VERSION}/Accounts")

STATUS = {MessageState.SCHEDULED: "scheduled", MessageState.QUEUED: "queued", MessageState.SENDING: "sending",
          MessageState.SENT: "sent", MessageState.DELIVERED: "delivered", MessageState.CANCELLED: "canceled",
          MessageState.EXPIRED: "failed", MessageState.UNKNOWN: "failed"}
CREATE_FIELDS = {"To", "From", "Body", "StatusCallback", "MessagingServiceSid", "ValidityPeriod",
                 "ProvideFeedback", "SmartEncoded", "ShortenUrls", "Attempt", "MaxPrice", "ContentRetention",
                 "AddressRetention", "ForceDelivery", "MessageIntent", "TrafficType", "ApplicationSid"}
LIST_FILTERS = {"To", "PageSize", "Page", "PageToken"}


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(status: int, code: int, message: str):
    response = jsonify({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                        "status": status})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


@bp.errorhandler(TwilioError)
def twilio_error(exc: TwilioError):
    return error_body(exc.status, exc.code, exc.message)


@bp.errorhandler(GatewayError)
def gateway_error(exc: GatewayError):
    if isinstance(exc, ScopeError):
        return error_body(403, 20403, "Forbidden: " + exc.message)
    if isinstance(exc, AuthError):
        return error_body(401, 20003, "Authenticate")
    if isinstance(exc, NotFound):
        return error_body(404, 20404, f"The requested resource {request.path} was not found")
    if isinstance(exc, InvalidNumber):
        return error_body(400, 21211, f"Invalid 'To' Phone Number: {request.form.get('To', '')}")
    if isinstance(exc, MessageTooLong):
        return error_body(400, 21617, "The concatenated message body exceeds the 1600 character limit")
    if isinstance(exc, ValidationError) and exc.field == "body" and not isinstance(exc, InvalidBody):
        return error_body(400, 21602, "Message body is required")
    if isinstance(exc, ValidationError) and exc.field == "status_callback":
        return error_body(400, 21609, "Invalid StatusCallback URL")
    if isinstance(exc, ValidationError):
        return error_body(400, 21100, exc.message)
    if isinstance(exc, ConflictError):
        return error_body(400, 30409, f"Message cannot be canceled: {exc.message}")
    if isinstance(exc, StoreUnavailable):
        return error_body(503, 20503, "Service unavailable")
    return error_body(500, 20500, "Internal Server Error")


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return error_body(exc.code or 500, 20000 + (exc.code or 500), exc.description or exc.name)


def authenticate(sid: str, scope: str) -> None:
    """HTTP Basic AccountSid:AuthToken; the SID in the path must be the one that authenticated."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or auth.username != sid:
        raise TwilioError(401, 20003, "Authenticate")
    g.api_key = accounts.authenticate(service(), auth.username, auth.password, scope)


def message_uid(message_sid: str) -> str:
    if len(message_sid) != 34 or not message_sid.startswith("SM") or not message_sid[2:14] == "0" * 12:
        raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
    return "msg_" + message_sid[14:]


def rfc2822(value) -> str | None:
    return format_datetime(value) if value else None


def twilio_status(message: Message) -> str:
    if message.state == MessageState.FAILED:
        return "undelivered" if message.sent_at else "failed"
    return STATUS[message.state]


def message_json(message: Message, sid: str) -> dict:
    status = twilio_status(message)
    error_code = {"failed": 30008, "undelivered": 30003}.get(status)
    uri = f"/{API_VERSION}/Accounts/{sid}/Messages/{callbacks.message_sid(message.uid)}"
    return {
        "account_sid": sid, "api_version": API_VERSION, "body": message.body,
        "date_created": rfc2822(message.created_at), "date_sent": rfc2822(message.sent_at),
        "date_updated": rfc2822(message.updated_at), "direction": "outbound-api",
        "error_code": error_code,
        "error_message": (message.error_message or message.error_code) if error_code else None,
        "from": message.modem, "messaging_service_sid": None, "num_media": "0",
        "num_segments": str(message.part_count), "price": None, "price_unit": "USD",
        "sid": callbacks.message_sid(message.uid), "status": status, "to": message.to_number,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "uri": f"{uri}.json",
    }


@bp.post("/<sid>/Messages.json")
def create_message(sid: str):
    authenticate(sid, "send")
    form = request.form
    unknown = sorted(set(form) - CREATE_FIELDS)
    if "MediaUrl" in unknown or "ContentSid" in unknown:
        raise TwilioError(400, 21620, "Media messages (MMS) are not supported by this gateway")
    if "SendAt" in unknown or "ScheduleType" in unknown:
        raise TwilioError(400, 35111, "Scheduled messages are not supported by this gateway")
    if unknown:
        raise TwilioError(400, 21100, f"Unknown parameter {unknown[0]!r}")
    if not form.get("To"):
        raise TwilioError(400, 21604, "A 'To' phone number is required.")
    if not form.get("Body"):
        raise TwilioError(400, 21602, "Message body is required.")
    callback = form.get("StatusCallback") or None
    [message] = service().messages.send(form["To"], form["Body"], api_key=g.api_key,
                                        status_callback=CallbackTarget("twilio", sid, callback) if callback else None,
                                        delivery_report=True if callback else None)  # Twilio reports "delivered"
    return message_json(message, sid), 201


@bp.get("/<sid>/Messages/<message_sid>.json")
def fetch_message(sid: str, message_sid: str):
    authenticate(sid, "read")
    return message_json(service().messages.get_message(message_uid(message_sid)), sid)


@bp.post("/<sid>/Messages/<message_sid>.json")
def update_message(sid: str, message_sid: str):
    """Status=canceled cancels a queued or scheduled message; Body="" redacts a settled one."""
    authenticate(sid, "send")
    uid = message_uid(message_sid)
    form = request.form
    if set(form) == {"Status"} and form["Status"] == "canceled":
        return message_json(service().messages.cancel(uid), sid)
    if set(form) == {"Body"} and form["Body"] == "":
        return message_json(_settled_only(service().privacy.redact, uid, "redact"), sid)
    raise TwilioError(400, 30400, "Parameters are not valid: give Status=canceled, or an empty Body to redact")


@bp.delete("/<sid>/Messages/<message_sid>.json")
def delete_message(sid: str, message_sid: str):
    authenticate(sid, "send")
    _settled_only(service().privacy.delete_message, message_uid(message_sid), "delete")
    return "", 204


def _settled_only(verb, uid: str, what: str):
    """`verb(uid)`, with Twilio's answer (20009) for a message still in flight."""
    try:
        return verb(uid)
    except ConflictError:
        raise TwilioError(400, 20009, f"Cannot {what} this message before it is complete") from None


@bp.get("/<sid>/Messages.json")
def list_messages(sid: str):
    authenticate(sid, "read")
    unknown = sorted(set(request.args) - LIST_FILTERS)
    if unknown:
        raise TwilioError(400, 21100, f"Filter {unknown[0]!r} is not supported by this gateway")
    page_size = request.args.get("PageSize", 50, type=int)
    page_number = request.args.get("Page", 0, type=int)
    if not 1 <= page_size <= 1000 or page_number < 0:
        raise TwilioError(400, 20001, "Invalid PageSize or Page")
    token = request.args.get("PageToken") or None
    if token is not None and not token.startswith("PA"):
        raise TwilioError(400, 20001, "Invalid PageToken")
    page, cursor = service().messages.list_messages(to=request.args.get("To") or None, cursor=token and token[2:],
                                                    limit=min(page_size, 200))
    base = f"/{API_VERSION}/Accounts/{sid}/Messages.json"
    filters = {"To": request.args["To"]} if request.args.get("To") else {}

    def uri(**extra) -> str:
        return base + "?" + urlencode({**filters, "PageSize": page_size, **extra})

    start = page_number * page_size
    return {
        "messages": [message_json(m, sid) for m in page],
        "end": start + max(len(page), 1) - 1, "first_page_uri": uri(Page=0),
        "next_page_uri": uri(Page=page_number + 1, PageToken=f"PA{cursor}") if cursor else None,
        "page": page_number, "page_size": page_size, "previous_page_uri": None, "start": start,
        "uri": uri(Page=page_number, **({"PageToken": token} if token else {})),
    }


@bp.get("/<sid>.json")
def fetch_account(sid: str):
    """The account of an API key, with the auth token that signs its callbacks."""
    authenticate(sid, "read")
    key = g.api_key
    return {"sid": sid, "friendly_name": key.name, "status": "active", "type": "Full",
            "auth_token": accounts.auth_token(service().receivers.callback_secret(), sid), "owner_account_sid": sid,
            "date_created": rfc2822(key.created_at), "date_updated": rfc2822(key.created_at),
            "uri": f"/{API_VERSION}/Accounts/{sid}.json", "subresource_uris": {
                "messages": f"/{API_VERSION}/Accounts/{sid}/Messages.json"}}
