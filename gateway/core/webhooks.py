"""Webhook delivery: signing, the retry rules, and the worker that POSTs queued deliveries.

Every POST carries `X-Smsgw-Signature: t=<unix time>,v1=<hex>` where hex is HMAC-SHA256 of
`"<t>." + raw body` under the receiver's secret (a webhook's own, or the gateway's callback secret for
`status_callback` URLs). Receivers check it with `verify_signature`, or the ten lines in the README.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Callable
from urllib.parse import quote, urlencode, urlsplit

import requests
from lxml import etree

from gateway.config import Settings, WebhookSettings
from gateway.core.ports import DeliveryStorage
from gateway.errors import ConfigError, GatewayError, ValidationError
from gateway.rules.retry import next_attempt_at
from gateway.rules.text import first_sms
from gateway.values import DeliveryJob, DeliveryState

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Smsgw-Signature"
CALLBACK_SECRET_KEY = "callback_secret"
RETRY_STATUSES = {408, 429}
IDLE_WAIT_S = 30.0
LEASE_S = 300.0


def webhook_url(url: str, *, field: str) -> str:
    """An http(s) URL with a host, or ValidationError."""
    parts = urlsplit(url.strip()) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        raise ValidationError(f"{field} must be an http:// or https:// URL", field=field)
    return url.strip()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the X-Smsgw-Signature header for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float, tolerance_s: float = 300) -> bool:
    """True when `header` signs `body` under `secret` and is within `tolerance_s` of `now` (epoch seconds)."""
    try:
        fields = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def outcome_of(status_code: int | None) -> DeliveryState:
    """2xx delivered; other 4xx (but 408/429) final; timeouts, connection errors, 5xx, 408, 429 retried."""
    if status_code is None or status_code >= 500 or status_code in RETRY_STATUSES:
        return DeliveryState.PENDING
    if 200 <= status_code < 300:
        return DeliveryState.DELIVERED
    return DeliveryState.FAILED


class WebhookDispatcher:
    """Owns the delivery loop thread and a small pool of POSTing threads. Deliveries of one message to one
    receiver are claimed one at a time, in order, so they arrive in order."""

    def __init__(self, store: DeliveryStorage, settings: WebhookSettings, clock: Callable[[], datetime],
                 rng: random.Random | None = None) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._posters = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="webhook-post")
        self._http = threading.local()
        self._callback_secret = settings.callback_secret or None
        # set by the runtime: sends a text back to the sender of a received SMS (the inbox resource)
        self.on_reply: Callable[[dict, str], object] | None = None

    def start(self) -> None:
        released = self._store.events.release_deliveries(self._clock(), at_start=True)
        if released:
            log.info("%d webhook deliveries left in flight by the last run are due again", released)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._posters.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                free = self._settings.concurrency - self._in_flight
            try:
                jobs = self._store.events.claim_deliveries(self._clock(), free, LEASE_S)
            except Exception:  # the loop owns this thread: log, wait, go on
                log.exception("claiming webhook deliveries failed")
                self._stop.wait(1.0)
                continue
            for job in jobs:
                with self._lock:
                    self._in_flight += 1
                self._posters.submit(self._deliver, job)
            if jobs:
                continue
            due = self._store.events.next_delivery_due()
            wait_s = IDLE_WAIT_S if due is None else (due - self._clock()).total_seconds()
            self._wake.wait(min(IDLE_WAIT_S, max(0.01, wait_s)))

    def _deliver(self, job: DeliveryJob) -> None:
        try:
            self._post(job)
        except Exception:  # a poster thread must not die with a delivery in flight
            log.exception("webhook delivery %s failed unexpectedly", job.uid)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._wake.set()

    def _post(self, job: DeliveryJob) -> None:
        secret = job.secret or self._get_callback_secret()
        sent_at_s = int(self._clock().timestamp())
        method, url, body = "POST", job.url, job.body
        headers = {"Content-Type": "application/json", "User-Agent": "smsgw-webhooks/1",
                   "X-Smsgw-Event-Id": job.event_uid, "X-Smsgw-Event-Type": job.event_type,
                   "X-Smsgw-Delivery-Id": job.uid, SIGNATURE_HEADER: sign(secret, sent_at_s, job.body)}
        door_format, _ = split_target(job.url)
        if door_format is not None:  # a compatibility door's own shape (Kannel dlr-url, Twilio, Android)
            request = render_callback(job, secret, self._get_callback_secret(), sent_at_s)
            if request is None:  # not wanted by this receiver (e.g. outside Kannel's dlr-mask)
                self._store.events.record_attempt(job, self._clock(), status_code=None,
                                                  error="not wanted by the receiver",
                                                  duration_ms=0.0, outcome=DeliveryState.DELIVERED)
                return
            method, url, body, headers = request
        wants_reply = (job.event_type == "message.received" and self.on_reply is not None
                       and door_format is not None and door_format.startswith(REPLYING_DOORS))
        started = time.perf_counter()
        status_code = error = None
        retry_after_s = 0.0
        answer, answer_type = b"", ""
        try:
            response = self._session().request(method, url, data=body, headers=headers, stream=wants_reply,
                                               timeout=self._settings.timeout_s, allow_redirects=False)
            status_code = response.status_code
            retry_after_s = _retry_after_s(response.headers.get("Retry-After"))
            if wants_reply and 200 <= status_code < 300:
                answer = response.raw.read(MAX_REPLY_BYTES, decode_content=True)
                answer_type = response.headers.get("Content-Type", "")
            response.close()
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = (time.perf_counter() - started) * 1000
        now = self._clock()
        outcome = outcome_of(status_code)
        retry_at = None
        if outcome == DeliveryState.PENDING:
            retry_at = max(next_attempt_at(job.attempt, now, self._settings.retry_base_s,
                                           self._settings.retry_max_s, self._rng),
                           now + timedelta(seconds=retry_after_s))
            if retry_at > job.event_created_at + timedelta(seconds=self._settings.horizon_s):
                outcome, error = DeliveryState.FAILED, f"gave up after {job.attempt} attempts: {error or status_code}"
        if outcome != DeliveryState.DELIVERED:
            log.info("webhook %s to %s: %s (attempt %d)", job.uid, _host(job.url), error or status_code, job.attempt)
        self._store.events.record_attempt(job, now, status_code=status_code, error=error, duration_ms=duration_ms,
                                          outcome=outcome, retry_at=retry_at)
        if answer:  # after the delivery is recorded: a reply goes out at most once, even across a restart
            self._send_replies(job, door_replies(door_format, answer_type, answer))

    def _send_replies(self, job: DeliveryJob, texts: list[str]) -> None:
        received = json.loads(job.body)["data"]
        for text in texts:
            try:
                self.on_reply(received, text)
            except GatewayError as exc:
                log.warning("the reply of webhook %s to %s was refused: %s", job.uid, received["id"], exc.message)

    def _session(self) -> requests.Session:
        session = getattr(self._http, "session", None)
        if session is None:
            session = self._http.session = requests.Session()
        return session

    def _get_callback_secret(self) -> str:
        if self._callback_secret is None:
            self._callback_secret = callback_secret(self._store, self._clock())
        return self._callback_secret


def callback_secret(store: DeliveryStorage, now: datetime) -> str:
    """The secret that signs status_callback POSTs: generated once, kept in the database."""
    return store.settings.add_if_absent(CALLBACK_SECRET_KEY, "cbsec_" + secrets.token_urlsafe(32), now)


# --- compatibility doors' callback shapes -------------------------------------------------------------
# A receiver that wants a door's own shape is stored as "<format>+<http URL>" (the way SQLAlchemy URLs
# name a driver: "postgresql+psycopg://"): "kannel-<dlr-mask>+", "twilio-<AccountSid>+", "android-<id>+".

_FORMAT = re.compile(r"[a-z][a-z0-9]*(-[A-Za-z0-9_]+)?")
TWILIO_API_VERSION = "2010-04-01"
KANNEL_ANSWERS = {1: "DELIVRD", 2: "UNDELIV", 4: "BUFFERED", 8: "ACK/", 16: "NACK/"}
ANDROID_EVENTS = {"message.sent": "sms:sent", "message.delivered": "sms:delivered",
                  "message.failed": "sms:failed", "message.received": "sms:received"}


KANNEL_GET_URL = "kannel-get"  # Kannel's sms-service get-url (not a dlr-mask)
REPLYING_DOORS = ("twilio", KANNEL_GET_URL)  # their receivers' answers to a received SMS are sent back as replies
MAX_REPLY_BYTES = 64 * 1024
_TWIML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def door_receivers(settings: Settings) -> list[str]:
    """The receivers of received SMS that the config names, as stored targets (Kannel get-url, Twilio sms_url);
    ConfigError for a URL that is not http(s)."""
    named = [(KANNEL_GET_URL, settings.kannel.get_url, "kannel.get_url"),
             (f"twilio-{settings.twilio.account_sid}", settings.twilio.sms_url, "twilio.sms_url")]
    try:
        return [callback_target(door_format, webhook_url(url, field=field)) for door_format, url, field in named if url]
    except ValidationError as exc:
        raise ConfigError(exc.message, field=exc.field) from None


def is_config_receiver(door_format: str | None) -> bool:
    """Webhooks in these shapes are made from the config (`door_receivers`), not by an API."""
    return door_format is not None and (door_format == KANNEL_GET_URL or door_format.startswith("twilio-"))


def callback_target(door_format: str, url: str) -> str:
    """The receiver `url` to be called in `door_format`'s shape, as stored on a message or a webhook."""
    if not _FORMAT.fullmatch(door_format):
        raise ValueError(f"bad callback format {door_format!r}")
    return f"{door_format}+{url}"


def split_target(target: str) -> tuple[str | None, str]:
    """(format, http URL) of a stored receiver; format None for our own JSON events."""
    scheme, colon, rest = target.partition(":")
    door_format, plus, real = scheme.rpartition("+")
    if plus and colon and real in ("http", "https") and _FORMAT.fullmatch(door_format):
        return door_format, f"{real}:{rest}"
    return None, target


def twilio_message_sid(uid: str) -> str:
    """Our message uid ("msg_" + 20 hex digits) as a Twilio SID ("SM" + 32 hex digits); reversible."""
    return "SM" + uid.partition("_")[2].rjust(32, "0")


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 of the URL and every POST name+value, names sorted."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def render_callback(job: DeliveryJob, secret: str, callback_secret_value: str, sent_at_s: int):
    """(method, url, body, headers) of a door-shaped delivery, or None when the receiver does not want it."""
    door_format, url = split_target(job.url)
    door, _, arg = door_format.partition("-")
    event = json.loads(job.body)
    data, event_type = event["data"], event["type"]
    at = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
    headers = {"User-Agent": "smsgw-webhooks/1"}
    if door_format == KANNEL_GET_URL:
        if event_type != "message.received":
            return None
        return "GET", kannel_sms_url(url, data), None, headers
    if door == "kannel":
        kind = {"message.sent": 8, "message.delivered": 1}.get(event_type)
        if event_type == "message.failed":
            kind = 2 if data.get("sent_at") else 16
        if kind is None or not int(arg or 0) & kind:
            return None
        error = data.get("error") or {}
        escapes = {"d": str(kind), "p": data.get("to", ""), "P": "", "I": data.get("id", ""),
                   "A": KANNEL_ANSWERS[kind] + (error.get("code") or "" if kind in (2, 16) else ""),
                   "T": str(int(at.timestamp())), "t": at.strftime("%Y-%m-%d %H:%M:%S"), "%": "%"}
        return "GET", _kannel_expand(url, escapes.get), None, headers
    if door == "twilio":
        if event_type == "message.received":
            params = {"MessageSid": twilio_message_sid(data["id"]), "SmsSid": twilio_message_sid(data["id"]),
                      "SmsMessageSid": twilio_message_sid(data["id"]), "AccountSid": arg, "From": data["from"],
                      "To": data.get("to") or data.get("modem") or "", "Body": data["text"], "NumMedia": "0",
                      "NumSegments": str(data["part_count"]), "SmsStatus": "received",
                      "ApiVersion": TWILIO_API_VERSION}
        else:
            status = {"message.sent": "sent", "message.delivered": "delivered"}.get(event_type)
            if status is None:
                status = "undelivered" if data.get("sent_at") else "failed"
            params = {"MessageSid": twilio_message_sid(data["id"]), "SmsSid": twilio_message_sid(data["id"]),
                      "MessageStatus": status, "SmsStatus": status, "AccountSid": arg,
                      "From": data.get("modem") or "", "To": data["to"], "ApiVersion": TWILIO_API_VERSION}
            if status in ("failed", "undelivered"):
                params["ErrorCode"] = "30008" if status == "failed" else "30003"
        token = account_auth_token(callback_secret_value, arg)
        headers.update({"Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": twilio_signature(token, url, params)})
        return "POST", url, urlencode(params).encode(), headers
    if door == "android":
        body = json.dumps({"deviceId": arg or "smsgw", "event": ANDROID_EVENTS[event_type], "id": job.uid,
                           "payload": android_payload(event_type, data), "webhookId": job.event_uid},
                          ensure_ascii=False).encode()
        timestamp = str(sent_at_s)
        digest = hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
        headers.update({"Content-Type": "application/json", "X-Signature": digest, "X-Timestamp": timestamp})
        return "POST", url, body, headers
    raise ValueError(f"unknown callback format {door_format!r}")


def _kannel_expand(url: str, value_of: Callable[[str], str | None]) -> str:
    """Replace Kannel's escapes (%x) in `url`, left to right, with `value_of(x)` URL-encoded (but %S, whose '*'
    become '~'); escapes without a value stay as they are."""
    def one(match: re.Match) -> str:
        value = value_of(match[1])
        if value is None:
            return match[0]
        return value.replace("*", "~") if match[1] == "S" else quote(value, safe="")
    return re.sub(r"%(.)", one, url)


def kannel_sms_url(url: str, data: dict) -> str:
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
    return _kannel_expand(url, value_of)


def door_replies(door_format: str, content_type: str, body: bytes) -> list[str]:
    """The texts a door's receiver asked us to send back to the sender of a received SMS: TwiML <Message>s
    (Twilio), or a text/plain answer with its blanks squeezed, cut to one SMS (Kannel's sms-service, whose
    `max-messages` is 1 unless configured)."""
    mimetype, _, params = content_type.partition(";")
    charset = (dict(p.strip().partition("=")[::2] for p in params.split(";") if "=" in p).get("charset")
               or "utf-8").strip('"')
    if door_format == KANNEL_GET_URL:
        if mimetype.strip().lower() not in ("", "text/plain"):
            return []
        try:
            text = " ".join(body.decode(charset).split())
        except (LookupError, UnicodeDecodeError):
            return []
        return [first_sms(text)] if text else []
    return twiml_messages(body)


def twiml_messages(body: bytes) -> list[str]:
    """The texts of a TwiML <Response>'s <Message> verbs (their text, or their <Body>); none for anything else.
    No DTD is loaded and no entity expanded: a document with a DOCTYPE is ignored."""
    if not body.strip():
        return []
    try:
        root = etree.fromstring(body, _TWIML_PARSER)
    except etree.XMLSyntaxError:
        return []
    if root.getroottree().docinfo.doctype or root.tag != "Response":
        return []
    texts = [(message.findtext("Body") if message.find("Body") is not None else message.text) or ""
             for message in root.iterfind("Message")]
    return [text.strip() for text in texts if text.strip()]


def android_payload(event_type: str, data: dict) -> dict:
    """The `payload` of an SMS Gateway for Android webhook."""
    if event_type == "message.received":
        return {"messageId": data["id"], "message": data["text"], "sender": data["from"],
                "recipient": data.get("to"), "phoneNumber": data["from"], "simNumber": None,
                "receivedAt": data["received_at"]}
    payload = {"messageId": data["id"], "phoneNumber": data["to"], "simNumber": None}
    if event_type == "message.sent":
        payload["sentAt"] = data.get("sent_at")
    elif event_type == "message.delivered":
        payload["deliveredAt"] = data.get("updated_at")
    else:
        payload["failedAt"] = data.get("updated_at")
        payload["reason"] = (data.get("error") or {}).get("message") or "failed"
    return payload


def account_auth_token(secret: str, sid: str) -> str:
    """A Twilio-style auth token (32 hex digits) for account `sid`, derived from the callback secret."""
    return hmac.new(secret.encode(), f"twilio-auth-token:{sid}".encode(), hashlib.sha256).hexdigest()[:32]


def _retry_after_s(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _host(url: str) -> str:
    return urlsplit(url).netloc
