"""Webhook delivery: signing, the retry rules, and the worker that POSTs queued deliveries.

Every POST carries `X-Smsgw-Signature: t=<unix time>,v1=<hex>` where hex is HMAC-SHA256 of
`"<t>." + raw body` under the receiver's secret (a webhook's own, or the gateway's callback secret for
`status_callback` URLs). Receivers check it with `verify_signature`, or the ten lines in docs/api.md.
A receiver that wants a compatibility door's shape (`gateway.doors.CallbackTarget`) gets the request its door
renders instead, and the door reads the texts to send back in its answer to a received SMS.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests

from gateway.config import EmailSettings, WebhookSettings
from gateway.core.mail import MAILTO, Mailer, MailNotSent, alert_mail, received_sms_mail
from gateway.core.outbound import CallbackDestinations
from gateway.core.ports import DeliveryStorage
from gateway.doors import Callback, CallbackTarget, Doors
from gateway.errors import GatewayError, ValidationError, said
from gateway.rules.destinations import redacted_url, without_queries
from gateway.rules.retry import next_attempt_at
from gateway.values import DeliveryJob, DeliveryState

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Smsgw-Signature"
USER_AGENT = "smsgw-webhooks/1"
CALLBACK_SECRET_KEY = "callback_secret"
RETRY_STATUSES = {408, 429}
IDLE_WAIT_S = 30.0
LEASE_S = 300.0
BUSY_RETRY_S = 0.5  # a delivery claimed while its receiver has all its posts in flight is due again after this
MAX_REPLY_BYTES = 64 * 1024  # of a door's receiver's answer read for replies


def webhook_url(url: str, *, field: str) -> str:
    """An http(s) URL with a host, or ValidationError."""
    parts = urlsplit(url.strip()) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        raise ValidationError(said("%(field)s must be an http:// or https:// URL", field=field), field=field)
    return url.strip()


def checked_target(target: str | CallbackTarget, destinations: CallbackDestinations, *,
                   field: str) -> CallbackTarget:
    """`target` (a URL for the gateway's own events, or a door's target) with its URL checked by `webhook_url`
    and its host by the destination policy (CallbackNotAllowed)."""
    if isinstance(target, str):
        target = CallbackTarget(None, "", webhook_url(target, field=field))
    else:
        target = dataclasses.replace(target, url=webhook_url(target.url, field=field))
    destinations.check_url(target.url, field=field)
    return target


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
                 rng: random.Random | None = None, doors: Doors | None = None,
                 destinations: CallbackDestinations | None = None, email: EmailSettings | None = None) -> None:
        self._store = store
        self._email = email or EmailSettings()  # `mailto:` receivers' mail goes through its SMTP server
        self._mailer = Mailer(self._email) if self._email.smtp_host else None
        self._settings = settings
        self._doors = doors or Doors()
        self._clock = clock
        self._rng = rng or random.Random()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._posters = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="webhook-post")
        self._http = threading.local()
        self._destinations = destinations or CallbackDestinations(settings.allow)
        self._gates: dict[str, _DestinationGate] = {}  # by `destination_of` the URL posted to
        self._callback_secret = settings.callback_secret or None
        # set by the runtime: sends a text back to the sender of a received SMS (the inbox resource)
        self.on_reply: Callable[[dict[str, Any], str], object] | None = None

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
            now = self._clock()
            postponed: dict[datetime, list[int]] = {}
            for job in jobs:
                with self._lock:
                    wait_until = self._gate(job).admit(now, BUSY_RETRY_S)
                    if wait_until is None:
                        self._in_flight += 1
                if wait_until is None:
                    self._posters.submit(self._deliver, job)
                else:
                    postponed.setdefault(wait_until, []).append(job.delivery_id)
            for until, ids in postponed.items():  # their receiver is busy or resting: others go first
                self._store.events.postpone_deliveries(ids, until)
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
                self._gate(job).leave()
            self._wake.set()

    def _post(self, job: DeliveryJob) -> None:
        if job.url.startswith(MAILTO):
            self._mail(job)
            return
        secret = job.secret or self._get_callback_secret()
        sent_at_s = int(self._clock().timestamp())
        method, url = "POST", job.url
        body: bytes | None = job.body
        headers: Mapping[str, str] = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "X-Smsgw-Event-Id": job.event_uid, "X-Smsgw-Event-Type": job.event_type,
                   "X-Smsgw-Delivery-Id": job.uid, SIGNATURE_HEADER: sign(secret, sent_at_s, job.body)}
        target = CallbackTarget.parse(job.url)
        door = self._doors.for_target(target)
        if door is not None:  # a compatibility door's own shape (a Kannel dlr-url, a Twilio status callback, ...)
            request = door.render(_callback(job, target, secret, self._get_callback_secret(), sent_at_s))
            if request is None:  # not wanted by this receiver (e.g. outside Kannel's dlr-mask)
                self._store.events.record_attempt(job, self._clock(), status_code=None,
                                                  error="not wanted by the receiver",
                                                  duration_ms=0.0, outcome=DeliveryState.DELIVERED)
                return
            method, url, body = request.method, request.url, request.body
            headers = {"User-Agent": USER_AGENT, **request.headers}
        read_replies = (door.replies if door is not None and job.event_type == "message.received"
                        and self.on_reply is not None else None)
        wants_reply = read_replies is not None
        started = time.perf_counter()
        status_code = error = None
        retry_after_s = 0.0
        answer, answer_type = b"", ""
        refusal = self._destinations.refusal(url)
        if refusal is not None:  # final: the policy will not change by retrying
            log.warning("webhook %s to %s refused: %s", job.uid, redacted_url(url), refusal)
            self._store.events.record_attempt(job, self._clock(), status_code=None, error=refusal, duration_ms=0.0,
                                              outcome=DeliveryState.FAILED)
            return
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
            error = without_queries(f"{type(exc).__name__}: {exc}")
        self._finish(job, redacted_url(url), outcome_of(status_code), status_code, error, started, retry_after_s)
        # after the delivery is recorded: a reply goes out at most once, even across a restart
        if answer and read_replies is not None:
            self._send_replies(job, read_replies(answer_type, answer))

    def _finish(self, job: DeliveryJob, shown: str, outcome: DeliveryState, status_code: int | None,
                error: str | None, started: float, retry_after_s: float = 0.0) -> None:
        """Record an attempt begun at `started` (perf_counter): a PENDING `outcome` is retried with backoff (no
        sooner than `retry_after_s`) until the horizon, then FAILED."""
        duration_ms = (time.perf_counter() - started) * 1000
        now = self._clock()
        retry_at = None
        if outcome == DeliveryState.PENDING:
            retry_at = max(next_attempt_at(job.attempt, now, self._settings.retry_base_s,
                                           self._settings.retry_max_s, self._rng),
                           now + timedelta(seconds=retry_after_s))
            if retry_at > job.event_created_at + timedelta(seconds=self._settings.horizon_s):
                outcome, error = DeliveryState.FAILED, f"gave up after {job.attempt} attempts: {error or status_code}"
        with self._lock:
            answered = status_code is not None and status_code < 500
            self._gate(job).record(answered, now, self._rng)
        if outcome != DeliveryState.DELIVERED:
            log.info("delivery %s to %s: %s (attempt %d)", job.uid, shown, error or status_code, job.attempt)
        self._store.events.record_attempt(job, now, status_code=status_code, error=error, duration_ms=duration_ms,
                                          outcome=outcome, retry_at=retry_at)

    def _mail(self, job: DeliveryJob) -> None:
        """A `mailto:` receiver (gateway/core/mail.py): the received SMS of the event, by mail."""
        started, address = time.perf_counter(), job.url[len(MAILTO):]
        if self._mailer is None:
            self._finish(job, job.url, DeliveryState.PENDING, None, "this box has no [email] smtp_host to send "
                         "mail through", started)
            return
        event = json.loads(job.body)
        kind, data = event["type"], event["data"]
        mail = (alert_mail(kind, data, address, self._email) if kind.startswith("alert.")
                else received_sms_mail(data, address, self._email))
        try:
            self._mailer.send(mail)
        except MailNotSent as exc:
            self._finish(job, job.url, DeliveryState.FAILED if exc.final else DeliveryState.PENDING, exc.code,
                         str(exc), started)
            return
        self._finish(job, job.url, DeliveryState.DELIVERED, 250, None, started)

    def _send_replies(self, job: DeliveryJob, texts: list[str]) -> None:
        if self.on_reply is None:
            return
        received = json.loads(job.body)["data"]
        for text in texts:
            try:
                self.on_reply(received, text)
            except GatewayError as exc:
                log.warning("the reply of webhook %s to %s was refused: %s", job.uid, received["id"], exc.message)

    def _session(self) -> requests.Session:
        session = getattr(self._http, "session", None)
        if session is None:
            session = self._http.session = self._destinations.session()
        return session

    def _gate(self, job: DeliveryJob) -> _DestinationGate:
        """The gate of the receiver `job` posts to (under self._lock)."""
        destination = destination_of(CallbackTarget.parse(job.url).url)
        gate = self._gates.get(destination)
        if gate is None:
            gate = self._gates[destination] = _DestinationGate(self._settings)
        return gate

    def _get_callback_secret(self) -> str:
        if self._callback_secret is None:
            self._callback_secret = callback_secret(self._store, self._clock())
        return self._callback_secret


def callback_secret(store: DeliveryStorage, now: datetime) -> str:
    """The secret that signs status_callback POSTs: generated once, kept in the database."""
    return store.settings.add_if_absent(CALLBACK_SECRET_KEY, "cbsec_" + secrets.token_urlsafe(32), now)


def _callback(job: DeliveryJob, target: CallbackTarget, secret: str, callback_secret_value: str,
              sent_at_s: int) -> Callback:
    """What the door of `target` renders for `job`."""
    event = json.loads(job.body)
    return Callback(target=target, event_type=event["type"], data=event["data"],
                    created_at=datetime.fromisoformat(event["created_at"].replace("Z", "+00:00")),
                    event_uid=job.event_uid, delivery_uid=job.uid, secret=secret,
                    callback_secret=callback_secret_value, sent_at_s=sent_at_s)


def _retry_after_s(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def destination_of(url: str) -> str:
    """The receiver a URL reaches, for concurrency and the circuit breaker: scheme, host and port."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{parts.hostname}:{port or (443 if parts.scheme == 'https' else 80)}"


class _DestinationGate:
    """One receiver's share of the posting threads and its circuit breaker (the caller holds the lock).

    At most `per_destination` posts in flight; after `breaker_failures` consecutive failures (no answer, or a
    5xx) the receiver rests for the retry backoff of its failure count, then one trial post decides: an answer
    closes the breaker, a failure rests it again for longer."""

    def __init__(self, settings: WebhookSettings) -> None:
        self._settings = settings
        self.in_flight = 0
        self.failures = 0
        self.resting_until: datetime | None = None

    def admit(self, now: datetime, busy_wait_s: float) -> datetime | None:
        """None and a slot taken when a post may start now; else when to try again."""
        if self.resting_until is not None and now < self.resting_until:
            return self.resting_until
        limit = 1 if self.failures >= self._settings.breaker_failures else self._settings.per_destination
        if self.in_flight >= limit:
            return now + timedelta(seconds=busy_wait_s)
        self.in_flight += 1
        return None

    def leave(self) -> None:
        self.in_flight -= 1

    def record(self, answered: bool, now: datetime, rng: random.Random) -> None:
        if answered:
            self.failures, self.resting_until = 0, None
            return
        self.failures += 1
        over = self.failures - self._settings.breaker_failures
        if over >= 0:
            self.resting_until = next_attempt_at(over + 1, now, self._settings.retry_base_s,
                                                 self._settings.retry_max_s, rng)
