"""Kannel's smsbox `sendsms` interface: `GET /cgi-bin/sendsms?username=&password=&to=&text=…` and its
header-based POST (`X-Kannel-*` headers, the text as a text/plain, xml or octet-stream body).

Credentials: `username` is the API key's name, `password` the key's token (scope `send`). Replies are
Kannel's own texts and statuses; a refused request changes nothing. `dlr-mask`/`dlr-url` become a status
callback in Kannel's shape: a GET of `dlr-url` with its escapes (%d %p %P %A %T %t %I) replaced
(`web.compat.kannel.callbacks`). `deferred`, `validity`, `priority` and `coding=2` map to the
gateway's options (`_options`); what it cannot send (udh, 8-bit, a message class) is refused. The inbound
side, sms-service's get-url, is `[kannel] get_url` (`web.compat.kannel.callbacks`)."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import parse_qsl

from flask import Blueprint, Response, request

from gateway.doors import CallbackTarget
from gateway.errors import (
    AuthError,
    GatewayError,
    InvalidNumber,
    MessageTooLong,
    StoreUnavailable,
    TooManyRecipients,
    UnknownModem,
    ValidationError,
)
from web.api import service

log = logging.getLogger(__name__)
bp = Blueprint("kannel", __name__)

ACCEPTED = (202, "0: Accepted for delivery")
AUTH_FAILED = (403, "Authorization failed for sendsms")
NOT_ROUTABLE = (403, "Not routable. Do not try again.")
NO_RECEIVER = (400, "Missing receiver number, rejected")
TEMPORAL = (503, "Temporal failure, try again later.")
FAILED = (500, "Sending failed.")
CHARSET_FAILED = (400, "Charset or body misformed, rejected")
POST_TYPES = ("text/plain", "text/xml", "application/xml", "application/octet-stream")
ALIASES = {"user": "username", "pass": "password"}


class Refused(Exception):
    """Kannel's answer to a request it will not queue."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status, self.text = status, text


def reply(status: int, text: str) -> Response:
    return Response(text, status=status, content_type="text/html; charset=utf-8")


@bp.route("/cgi-bin/sendsms", methods=["GET", "POST"])
def sendsms():
    try:
        params = _post_params() if request.method == "POST" else _get_params()
        messages = _send(params)
    except Refused as refused:
        return reply(refused.status, refused.text)
    response = reply(*ACCEPTED)
    response.headers["X-Kannel-Message-ID"] = " ".join(m.uid for m in messages)
    return response


def _get_params() -> dict[str, str]:
    """The query's parameters; `text` is decoded in `charset` (see `_decode_text`), the others as UTF-8."""
    pairs = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    raw = {name: value.encode("latin-1") for name, value in _first_of_each(pairs).items()}
    try:
        params = {name: value.decode("utf-8") for name, value in raw.items() if name != "text"}
    except UnicodeDecodeError:
        raise Refused(*CHARSET_FAILED) from None
    params["text"] = _decode_text(raw.get("text", b""), params.get("charset"), params.get("coding"))
    return params


def _post_params() -> dict[str, str]:
    """Kannel's POST: parameters in X-Kannel-* headers, the text as the body (a form post is refused); the
    body's charset is the Content-Type's (or X-Kannel-Charset)."""
    if request.mimetype not in POST_TYPES:
        raise Refused(400, "Invalid content-type")
    pairs = [(name[len("X-Kannel-"):].lower(), value) for name, value in request.headers.items()
             if name.lower().startswith("x-kannel-")]
    params = _first_of_each(pairs)
    charset = params.get("charset") or request.mimetype_params.get("charset")
    params["text"] = _decode_text(request.get_data(cache=False), charset, params.get("coding"))
    return params


def _decode_text(data: bytes, charset: str | None, coding: str | None) -> str:
    """The text's bytes read as Kannel does: in `charset`, by default UTF-16BE for coding=2, else UTF-8."""
    try:
        return data.decode(charset or ("utf-16-be" if (coding or "").strip() == "2" else "utf-8"))
    except (LookupError, UnicodeDecodeError, ValueError):  # ValueError: a charset name with a NUL in it
        raise Refused(*CHARSET_FAILED) from None


def _first_of_each(pairs) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(ALIASES.get(name, name), value)
    return params


def _send(params: dict[str, str]):
    try:
        key = service().keys.authenticate_pair(params.get("username"), params.get("password"), "send")
    except AuthError:
        raise Refused(*AUTH_FAILED) from None
    recipients = (params.get("to") or "").split()
    if not recipients:
        raise Refused(*NO_RECEIVER)
    options = _options(params)
    try:
        return service().messages.send(recipients, params.get("text") or "", via=params.get("smsc") or None,
                                       api_key=key, **options)
    except (InvalidNumber, UnknownModem):
        raise Refused(*NOT_ROUTABLE) from None
    except TooManyRecipients as exc:
        raise Refused(400, f"{exc.message}, rejected") from None
    except MessageTooLong:
        raise Refused(400, "Message too long, rejected") from None
    except ValidationError as exc:
        raise Refused(400, f"{exc.message}, rejected") from None
    except StoreUnavailable:
        raise Refused(*TEMPORAL) from None
    except GatewayError:
        log.exception("sendsms failed")
        raise Refused(*FAILED) from None


def _options(params: dict[str, str]) -> dict:
    """`service.messages.send` options from Kannel's fields, or Kannel's refusal ("<Field> field misformed, rejected")
    for a bad value; what this gateway cannot send (udh, 8-bit coding, a message class) is refused too."""
    coding = _int(params, "coding", "Coding", 0, 2)
    mclass = _int(params, "mclass", "MClass", 0, 3)
    mask = _int(params, "dlr-mask", "DLR-Mask", 0, 63)
    validity = _int(params, "validity", "Validity", 0, None)
    deferred = _int(params, "deferred", "Deferred", 0, None)
    priority = _int(params, "priority", "Priority", 0, 3)
    if params.get("udh"):
        raise Refused(400, "UDH field not supported, rejected")
    if coding == 1:
        raise Refused(400, "Coding field not supported (8-bit), rejected")
    if mclass is not None:
        raise Refused(400, "MClass field not supported, rejected")
    dlr_url = params.get("dlr-url") or None
    return {
        "delivery_report": None if mask is None else bool(mask & 3),
        "status_callback": CallbackTarget("kannel", str(mask), dlr_url) if mask and dlr_url else None,
        "force_ucs2": coding == 2,
        "validity": None if validity is None else validity * 60,
        "send_at": None if not deferred else (service().clock() + timedelta(minutes=deferred)).isoformat(),
        "priority": None if priority is None else ("high" if priority > 0 else "normal"),
    }


def _int(params: dict[str, str], name: str, label: str, low: int, high: int | None) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise Refused(400, f"{label} field misformed, rejected") from None
    if number < low or (high is not None and number > high):
        raise Refused(400, f"{label} field misformed, rejected")
    return number
