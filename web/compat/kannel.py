"""Kannel's smsbox `sendsms` interface: `GET /cgi-bin/sendsms?username=&password=&to=&text=…` and its
header-based POST (`X-Kannel-*` headers, the text as a text/plain, xml or octet-stream body).

Credentials: `username` is the API key's name, `password` the key's token (scope `send`). Replies are
Kannel's own texts and statuses; a refused request changes nothing. `dlr-mask`/`dlr-url` become a status
callback in Kannel's shape: a GET of `dlr-url` with its escapes (%d %p %P %A %T %t %I) replaced
(see `gateway.webhooks.render_callback`)."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Response, request

from gateway.errors import (AuthError, GatewayError, InvalidNumber, MessageTooLong, StoreUnavailable,
                            TooManyRecipients, UnknownModem, ValidationError)
from web.api import service

log = logging.getLogger(__name__)
bp = Blueprint("kannel", __name__)

ACCEPTED = (202, "0: Accepted for delivery")
AUTH_FAILED = (403, "Authorization failed for sendsms")
NOT_ROUTABLE = (403, "Not routable. Do not try again.")
NO_RECEIVER = (400, "Missing receiver number, rejected")
TEMPORAL = (503, "Temporal failure, try again later.")
FAILED = (500, "Sending failed.")
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
    """The query, decoded in `charset` when given (Kannel takes the text's bytes in that charset)."""
    raw = request.query_string.decode("latin-1")
    charset = dict(parse_qsl(raw, encoding="latin-1")).get("charset") or "utf-8"
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, encoding=charset, errors="strict")
    except (LookupError, UnicodeDecodeError):
        raise Refused(400, "Charset or body conversion failed") from None
    return _first_of_each(pairs)


def _post_params() -> dict[str, str]:
    """Kannel's POST: parameters in X-Kannel-* headers, the text as the body (a form post is refused)."""
    if request.mimetype not in POST_TYPES:
        raise Refused(400, "Invalid content-type")
    pairs = [(name[len("X-Kannel-"):].lower(), value) for name, value in request.headers.items()
             if name.lower().startswith("x-kannel-")]
    params = _first_of_each(pairs)
    charset = params.get("charset") or request.mimetype_params.get("charset") or "utf-8"
    try:
        params["text"] = request.get_data(cache=False).decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise Refused(400, "Charset or body conversion failed") from None
    return params


def _first_of_each(pairs) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(ALIASES.get(name, name), value)
    return params


def _send(params: dict[str, str]):
    try:
        key = service().authenticate_pair(params.get("username"), params.get("password"), "send")
    except AuthError:
        raise Refused(*AUTH_FAILED) from None
    recipients = (params.get("to") or "").split()
    if not recipients:
        raise Refused(*NO_RECEIVER)
    if params.get("udh") or params.get("coding") == "1":
        raise Refused(400, "Binary messages (udh, coding=1) are not supported, rejected")
    if params.get("deferred"):
        raise Refused(400, "Deferred delivery is not supported, rejected")
    mask = _int(params.get("dlr-mask"), "dlr-mask")
    dlr_url = params.get("dlr-url") or None
    if mask is not None and not 0 <= mask <= 31:
        raise Refused(400, "Invalid dlr-mask, rejected")
    want_report = None if mask is None else bool(mask & 3)
    try:
        return service().send(recipients, params.get("text") or "", delivery_report=want_report,
                              via=params.get("smsc") or None, api_key=key,
                              status_callback=dlr_url if mask and dlr_url else None,
                              callback_format=f"kannel-{mask}" if mask and dlr_url else None)
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


def _int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise Refused(400, f"Invalid {name}, rejected") from None


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
