"""What an upstream provider is sent and what its answers mean (pure): the request for one message, the
provider's answer read as accepted (with its id for the message) or refused (for now, for good, or because of
the upstream itself), and a delivery receipt read as delivered, failed or not final.

An answer's meaning, for every kind: 2xx accepted (kind "http": and `success_match` found in it); 401, 403 and
404 are the upstream's trouble (credentials, account, URL), not the message's; 408, 429 and 5xx are temporary;
any other 4xx refuses the message for good. Twilio's and Kannel's own refusal texts refine that.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from string import Template
from typing import Any, Mapping
from urllib.parse import quote

from gateway.config import UpstreamSettings
from gateway.errors import ModemFaultSendError, PermanentSendError, TemporarySendError

TWILIO_API = "2010-04-01"
KANNEL_DLR_MASK = 3  # delivered (1) and not delivered (2)
KANNEL_FINAL = {1: True, 2: False, 16: False}  # dlr type → delivered? (4 buffered and 8 accepted are not final)
TWILIO_FINAL = {"delivered": True, "undelivered": False, "failed": False}
ANSWER_SHOWN = 200  # characters of a provider's answer kept in an error


@dataclass(frozen=True)
class Outgoing:
    """One message for an upstream: the whole text (the provider splits it), and where its receipt goes."""

    uid: str
    to: str
    text: str
    unicode: bool  # the text needs UCS-2 (Kannel is told coding=2)
    receipt_url: str | None  # None: no receipt asked for


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)  # the query string
    data: bytes | dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None


def message_request(upstream: UpstreamSettings, message: Outgoing) -> HttpRequest:
    """The request that hands `message` to `upstream`."""
    if upstream.kind == "twilio":
        data = {"To": message.to, "From": upstream.sender, "Body": message.text}
        if message.receipt_url:
            data["StatusCallback"] = message.receipt_url
        return HttpRequest("POST", _twilio_base(upstream) + "/Messages.json", data=data,
                           auth=(upstream.account_sid, upstream.auth_token))
    if upstream.kind == "kannel":
        params = {"username": upstream.username, "password": upstream.password, "to": message.to,
                  "text": message.text, "charset": "UTF-8", "coding": "2" if message.unicode else "0"}
        if upstream.sender:
            params["from"] = upstream.sender
        if message.receipt_url:
            params |= {"dlr-mask": str(KANNEL_DLR_MASK), "dlr-url": message.receipt_url + "?type=%d"}
        return HttpRequest("GET", upstream.url, params=params)
    return _templated(upstream, message)


def probe_request(upstream: UpstreamSettings) -> HttpRequest | None:
    """A request that checks the upstream answers and takes our credentials, sending nothing; None: the kind has
    none (then reaching its host is the check)."""
    if upstream.kind == "twilio":
        return HttpRequest("GET", _twilio_base(upstream) + ".json", auth=(upstream.account_sid, upstream.auth_token))
    return None


def _twilio_base(upstream: UpstreamSettings) -> str:
    return f"{upstream.url.rstrip('/')}/{TWILIO_API}/Accounts/{quote(upstream.account_sid, safe='')}"


def _templated(upstream: UpstreamSettings, message: Outgoing) -> HttpRequest:
    """kind "http": `url` and `body` with $to, $text, $from, $id, $receipt_url, $username and $password replaced,
    each value encoded for where it stands (URL-encoded in the URL and a form, a JSON string in a JSON body)."""
    values = {"to": message.to, "text": message.text, "from": upstream.sender, "id": message.uid,
              "receipt_url": message.receipt_url or "", "username": upstream.username, "password": upstream.password}
    url = Template(upstream.url).safe_substitute({k: quote(v, safe="") for k, v in values.items()})
    if upstream.method == "GET" or not upstream.body:
        return HttpRequest(upstream.method, url)
    is_json = upstream.content_type.split(";")[0].strip().lower() == "application/json"
    encode = json.dumps if is_json else (lambda v: quote(v, safe=""))
    body = Template(upstream.body).safe_substitute({k: encode(v) for k, v in values.items()})
    return HttpRequest(upstream.method, url, data=body.encode(), headers={"Content-Type": upstream.content_type})


def accepted_id(upstream: UpstreamSettings, status: int, headers: Mapping[str, str], text: str) -> str | None:
    """The provider's id for the message it accepted (None when it gives none); raises the send error the
    answer means when it refused it."""
    refusal = _refusal(upstream, status, text)
    if refusal is not None:
        raise refusal
    if upstream.kind == "twilio":
        sid = _json(text).get("sid")
        return sid if isinstance(sid, str) else None
    if upstream.kind == "kannel":
        return headers.get("X-Kannel-Message-ID") or None
    if upstream.id_pattern:
        found = re.search(upstream.id_pattern, text)
        return found.group(1) if found and found.groups() else None
    return None


def _refusal(upstream: UpstreamSettings, status: int, text: str) -> Exception | None:
    said = " ".join(text.split())[:ANSWER_SHOWN]
    if upstream.kind == "twilio" and not 200 <= status < 300:
        body = _json(text)
        code, said = body.get("code"), str(body.get("message") or said)
        if isinstance(code, int):
            return _by_status(status, f"Twilio {code}: {said}", error_kind="TWILIO", error_code=code)
    if upstream.kind == "kannel" and status == 403 and "not routable" in said.lower():
        return PermanentSendError(f"Kannel: {said}", error_kind="HTTP", error_code=status)
    if 200 <= status < 300:
        if upstream.kind == "http" and upstream.success_match and not re.search(upstream.success_match, text):
            return PermanentSendError(f"the provider's answer does not match success_match: {said}",
                                      error_kind="HTTP", error_code=status)
        return None
    return _by_status(status, f"HTTP {status}: {said}", error_kind="HTTP", error_code=status)


def _by_status(status: int, detail: str, *, error_kind: str, error_code: int) -> Exception:
    if status in (401, 403, 404):
        return ModemFaultSendError(f"the upstream refused us ({detail})", error_kind=error_kind, error_code=error_code)
    if status in (408, 429) or status >= 500:
        return TemporarySendError(detail, error_kind=error_kind, error_code=error_code)
    return PermanentSendError(detail, error_kind=error_kind, error_code=error_code)


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Receipt:
    """A provider's word on a message: delivered (True), failed (False) or not final yet (None)."""

    delivered: bool | None
    detail: str


def read_receipt(upstream: UpstreamSettings, fields: Mapping[str, str]) -> Receipt:
    """A delivery receipt's fields (query, form or JSON, merged) in the shape of `upstream`'s kind."""
    if upstream.kind == "twilio":
        status = fields.get("MessageStatus") or fields.get("SmsStatus") or ""
        error = fields.get("ErrorCode")
        return Receipt(TWILIO_FINAL.get(status), f"Twilio status {status or '?'}" + (f" ({error})" if error else ""))
    if upstream.kind == "kannel":
        kind = fields.get("type", "")
        return Receipt(KANNEL_FINAL.get(int(kind)) if kind.isdigit() else None, f"Kannel report type {kind or '?'}")
    status = str(fields.get(upstream.receipt_field, ""))
    delivered = True if status in upstream.delivered_values else False if status in upstream.failed_values else None
    return Receipt(delivered, f"provider status {status or '?'}")
