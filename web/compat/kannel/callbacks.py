"""Kannel's callbacks: a message's `dlr-url` (target argument: the `dlr-mask`) and sms-service's `get-url` for
received SMS (argument "get", made from `[kannel] get_url`), both fetched with GET after replacing Kannel's escapes;
a get-url's text/plain answer is the reply to the SMS."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Callable
from urllib.parse import quote

from gateway.doors import Callback, CallbackRequest, CallbackTarget
from gateway.rules.text import first_sms
from web.compat import config_receiver
from web.compat.kannel.settings import KannelSettings

GET_URL = "get"  # the target argument of sms-service's get-url (a dlr-url's is its dlr-mask)
ANSWERS = {1: "DELIVRD", 2: "UNDELIV", 4: "BUFFERED", 8: "ACK/", 16: "NACK/"}  # %A of each report type


def receivers(settings: KannelSettings) -> list[CallbackTarget]:
    """The get-url, when the config names one."""
    return [config_receiver("kannel", GET_URL, settings.get_url, field="kannel.get_url")] if settings.get_url else []


def render(callback: Callback) -> CallbackRequest | None:
    """The GET of a dlr-url for the report types of its dlr-mask (1 delivered, 2 not delivered, 8 accepted by the
    SMS centre, 16 rejected), or of a get-url for a received SMS; None for any other event."""
    data, event_type, url = callback.data, callback.event_type, callback.target.url
    if callback.target.arg == GET_URL:
        if event_type != "message.received":
            return None
        return CallbackRequest("GET", sms_url(url, data), None)
    kind = {"message.sent": 8, "message.delivered": 1}.get(event_type)
    if event_type == "message.failed":
        kind = 2 if data.get("sent_at") else 16
    if kind is None or not int(callback.target.arg or 0) & kind:
        return None
    error = data.get("error") or {}
    at = callback.created_at
    escapes = {"d": str(kind), "p": data.get("to", ""), "P": "", "I": data.get("id", ""),
               "A": ANSWERS[kind] + (error.get("code") or "" if kind in (2, 16) else ""),
               "T": str(int(at.timestamp())), "t": at.strftime("%Y-%m-%d %H:%M:%S"), "%": "%"}
    return CallbackRequest("GET", _expand(url, escapes.get), None)


def _expand(url: str, value_of: Callable[[str], str | None]) -> str:
    """Replace Kannel's escapes (%x) in `url`, left to right, with `value_of(x)` URL-encoded (but %S, whose '*'
    become '~'); escapes without a value stay as they are."""
    def one(match: re.Match) -> str:
        value = value_of(match[1])
        if value is None:
            return match[0]
        return value.replace("*", "~") if match[1] == "S" else quote(value, safe="")
    return re.sub(r"%(.)", one, url)


def sms_url(url: str, data: dict) -> str:
    """An sms-service get-url for received SMS `data` (the inbox resource), with Kannel's escapes: %k the
    keyword, %s the next word, %S it unencoded with '*' as '~', %r the words %s has not used, %a all words,
    %b the text as sent, %p/%q the sender, %P/%Q our number (the receiving SIM's, empty when unknown), %i the
    modem, %t/%T the sending time."""
    words = data["text"].split()
    used = [1]  # %s takes words after the keyword, one per use
    at = datetime.fromisoformat((data.get("sent_at") or data["received_at"]).replace("Z", "+00:00"))
    ours = data.get("to") or ""
    plain = {"k": words[0] if words else "", "a": " ".join(words), "b": data["text"], "p": data["from"],
             "q": data["from"], "P": ours, "Q": ours, "i": data.get("modem") or "", "n": "smsgw",
             "t": at.strftime("%Y-%m-%d %H:%M:%S"), "T": str(int(at.timestamp())), "%": "%"}

    def value_of(code: str) -> str | None:
        if code in "sS":
            word = words[used[0]] if used[0] < len(words) else ""
            used[0] += 1
            return word
        if code == "r":
            return " ".join(words[used[0]:])
        return plain.get(code)
    return _expand(url, value_of)


def replies(content_type: str, body: bytes) -> list[str]:
    """A get-url's answer: a text/plain text with its blanks squeezed, cut to one SMS (sms-service's
    `max-messages` is 1 unless configured); nothing for another type or an undecodable body."""
    mimetype, _, params = content_type.partition(";")
    if mimetype.strip().lower() not in ("", "text/plain"):
        return []
    charset = (dict(p.strip().partition("=")[::2] for p in params.split(";") if "=" in p).get("charset")
               or "utf-8").strip('"')
    try:
        text = " ".join(body.decode(charset).split())
    except (LookupError, UnicodeDecodeError):
        return []
    return [first_sms(text)] if text else []
