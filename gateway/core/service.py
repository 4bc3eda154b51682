"""Use cases the API and the CLI call: validate, normalise, one transaction, then wake the pool."""

from __future__ import annotations

import hmac
import logging
import re
import unicodedata
from datetime import datetime, timedelta
from typing import Callable, Collection, Mapping, Protocol, Sequence

from gateway.clock import utcnow
from gateway.config import MessagingSettings, RouteSettings, WebhookSettings
from gateway.core.messaging_verbs import MessagingVerbs
from gateway.core.queue_policy import QueuePolicy
from gateway.core.webhooks import callback_secret, checked_target
from gateway.doors import CallbackTarget
from gateway.errors import AuthError, MessageTooLong, ModemNotFound, ScopeError, TooManyRecipients, ValidationError
from gateway.rules import apikeys
from gateway.rules.numbers import to_e164
from gateway.rules.ratelimit import RateLimited, request_window
from gateway.rules.routing import Route
from gateway.rules.text import segment
from gateway.rules.timing import parse_priority, parse_send_at, parse_validity
from gateway.store import Store
from gateway.store.models import ApiKey, InboxMessage, Message, Modem, Webhook
from gateway.values import EVENT_TYPES, MessageDraft, MessageState

log = logging.getLogger(__name__)

KEY_TOUCH_INTERVAL = timedelta(seconds=60)
KEY_READ_TTL_S = 1.0  # an API key read for a request serves the next ones this long (a revocation elsewhere waits)


class PoolControl(Protocol):
    """What the service may ask of the modem pool running in this process."""

    def wake(self) -> None:
        """New work is committed."""

    def reset(self, name: str) -> bool:
        """Reconnect modem `name`; False when this process runs no such modem."""

    def ussd(self, name: str, code: str, timeout_s: float) -> str:
        """The network's answer to USSD `code`, asked on modem `name`'s own thread."""


USSD_CODE = re.compile(r"^[0-9*#+]{1,40}$")


class NoPool:
    """For processes that run no modems (the CLI): work is found by the running gateway's idle poll."""

    def wake(self) -> None:
        pass

    def reset(self, name: str) -> bool:
        return False

    def ussd(self, name: str, code: str, timeout_s: float) -> str:
        raise ModemNotFound(f"no modem named {name!r} runs in this process", field="name")


class GatewayService(MessagingVerbs):
    """The gateway's verbs. `pool` is told when new work is committed."""

    def __init__(self, store: Store, settings: MessagingSettings, pool: PoolControl | None = None,
                 clock: Callable[[], datetime] = utcnow, webhook_settings: WebhookSettings | None = None,
                 ussd_timeout_s: float = 30.0, routes: Sequence[RouteSettings] = (),
                 modem_costs: Mapping[str, float] | None = None) -> None:
        self.store = store
        self.policy = QueuePolicy(settings, store.modems, store.outbox, routes, modem_costs)
        self.settings = settings
        self.pool = pool or NoPool()
        self.clock = clock
        self.webhook_settings = webhook_settings or WebhookSettings()
        self.ussd_timeout_s = ussd_timeout_s
        self._recent_keys: apikeys.RecentKeys[ApiKey] = apikeys.RecentKeys(KEY_READ_TTL_S)

    # --- sending -------------------------------------------------------------------------------

    def send(self, to: str | Sequence[str], body: str, *, delivery_report: bool | None = None,
             via: str | None = None, status_callback: str | CallbackTarget | None = None,
             api_key: ApiKey | None = None,
             priority: str | None = None, send_at: str | None = None, time_zone: str | None = None,
             validity: int | float | str | None = None, message_class: str | None = None,
             quiet_hours: bool | str | None = None, force_ucs2: bool = False) -> list[Message]:
        """Queue one message per distinct recipient; all or nothing. Returns the committed messages.

        `via` names the modem that must send it (a test from the status page, a reply from the same SIM) or
        a routing group whose modems may; events about each message are POSTed to `status_callback` when
        given. `priority` (high, normal, bulk) orders the queue; `send_at` (with `time_zone` when it has no
        offset) holds the messages until then; `validity` expires them when not sent in time; a `marketing`
        `message_class` is held while it is `quiet_hours` where the recipient lives (gateway.rules.timing);
        `force_ucs2` sends UCS-2 even when the text fits GSM-7 (Kannel's coding=2)."""
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients:
            raise ValidationError("'to' must name at least one recipient", field="to")
        if len(recipients) > self.settings.max_recipients:
            raise TooManyRecipients(f"at most {self.settings.max_recipients} recipients per request, "
                                    f"got {len(recipients)}", field="to")
        numbers = list(dict.fromkeys(to_e164(r, self.settings.default_region) for r in recipients))
        self._refuse_opted_out(numbers, message_class)
        text = self._normalise_body(body)
        segmentation = segment(text, force_ucs2=force_ucs2)
        if segmentation.part_count > self.settings.max_parts:
            raise MessageTooLong(f"the body needs {segmentation.part_count} {segmentation.encoding} parts; "
                                 f"at most {self.settings.max_parts} are allowed", field="body")
        wants_report = self.settings.delivery_report if delivery_report is None else delivery_report
        order = parse_priority(priority)
        hold_until = parse_send_at(send_at, time_zone)
        lifetime = parse_validity(validity)
        quiet_window = self.policy.quiet_window(message_class, quiet_hours)
        holds = self.policy.quiet_holds(numbers, max(hold_until or self.clock(), self.clock()), quiet_window)
        via_modem, via_group = self.policy.via(via)
        if status_callback is not None:
            status_callback = str(checked_target(status_callback, field="status_callback"))
        routes = {} if via is not None else self.policy.routes(numbers)
        drafts = [MessageDraft(to_number=n, body=text, encoding=segmentation.encoding, parts=segmentation.parts,
                               delivery_report=wants_report, status_callback=status_callback, priority=order,
                               send_at=holds.get(n, hold_until),
                               expires_at=None if lifetime is None else max(holds.get(n, hold_until) or self.clock(),
                                                                            self.clock()) + lifetime,
                               quiet_hours=quiet_window, **(routes[n].placement if n in routes else
                                                            {"via_modem": via_modem, "route_group": via_group}))
                  for n in numbers]
        messages = self.store.outbox.enqueue(drafts, self.clock(), api_key_id=api_key.id if api_key else None)
        self.pool.wake()
        return messages

    def check_request_rate(self, key: ApiKey) -> None:
        """Count one request of `key` in this minute's window; RateLimited (429) past the configured limit."""
        limit = self.settings.api_requests_per_minute
        if limit <= 0:
            return
        window, retry_after_s = request_window(self.clock())
        if self.store.request_counts.count_request(key.id, window) > limit:
            raise RateLimited(f"API key {key.name!r} made more than {limit} requests this minute; "
                              f"try again in {retry_after_s} s", retry_after_s)

    def forget_request_counts(self) -> int:
        return self.store.request_counts.forget_request_counts(self.clock())

    def explain_route(self, to: str) -> Route:
        """How a message to `to` would be routed now, and why (GET /api/v1/routes)."""
        return self.policy.explain(to_e164(to, self.settings.default_region, field="to"))

    @staticmethod
    def _normalise_body(body: str) -> str:
        text = unicodedata.normalize("NFC", body)
        if not text.strip():
            raise ValidationError("'body' must not be empty", field="body")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError("'body' holds characters that are not valid Unicode (lone surrogates)",
                                  field="body") from exc
        return text

    def get_message(self, uid: str) -> Message:
        return self.store.outbox.get_message(uid)

    def list_messages(self, *, state: str | None = None, to: str | None = None, cursor: str | None = None,
                      limit: int = 50) -> tuple[list[Message], str | None]:
        """A page of messages, newest first, and the cursor of the next page (None at the end)."""
        state_value = None
        if state is not None:
            try:
                state_value = MessageState(state)
            except ValueError:
                raise ValidationError(f"unknown status {state!r}; one of "
                                      f"{', '.join(s.value for s in MessageState)}", field="status") from None
        to_number = to_e164(to, self.settings.default_region, field="to") if to else None
        page = self.store.outbox.list_messages(state=state_value, to_number=to_number, before_id=_cursor_id(cursor),
                                               limit=_page_size(limit))
        return page, (str(page[-1].id) if len(page) == _page_size(limit) else None)

    def cancel(self, uid: str) -> Message:
        return self.store.outbox.cancel(uid, self.clock())

    def redact(self, uid: str) -> Message:
        """Empty a settled message's text (ConflictError while it may still be sent)."""
        return self.store.privacy.redact_message(uid)

    def delete_message(self, uid: str) -> None:
        """Delete a settled message's record (ConflictError while it may still be sent)."""
        self.store.privacy.delete_message(uid)

    def retry(self, uid: str) -> Message:
        message = self.store.outbox.retry(uid, self.clock())
        self.pool.wake()
        return message

    # --- reading -------------------------------------------------------------------------------

    def list_inbox(self, *, cursor: str | None = None, limit: int = 50) -> tuple[list[InboxMessage], str | None]:
        page = self.store.inbox.list_inbox(before_id=_cursor_id(cursor), limit=_page_size(limit))
        return page, (str(page[-1].id) if len(page) == _page_size(limit) else None)

    def list_modems(self) -> list[Modem]:
        return self.store.modems.list_modems()

    def reset_modem(self, name: str) -> None:
        """Close and reopen a modem (it re-initialises; work it held goes back to the queue)."""
        if not self.pool.reset(name):
            raise ModemNotFound(f"no modem named {name!r} runs in this gateway", field="name")

    def ussd(self, name: str, code: str, timeout_s: float | None = None) -> str:
        """Send a USSD code (e.g. "*100#") on modem `name` and return the network's answer. The modem's own
        worker does the exchange; this waits for it (UssdTimeout when it does not come in time)."""
        code = (code or "").strip()
        if not USSD_CODE.match(code):
            raise ValidationError("'code' must be a USSD code of digits, '*', '#' and '+' (e.g. \"*100#\")",
                                  field="code")
        return self.pool.ussd(name, code, self.ussd_timeout_s if timeout_s is None else timeout_s)

    def flush_incomplete_inbound(self) -> int:
        """Deliver what arrived of incoming multi-part SMS whose other parts never came."""
        now = self.clock()
        return self.store.inbox.flush_incomplete(now - timedelta(seconds=self.settings.reassembly_timeout_s), now,
                                                 reply_since=now - timedelta(seconds=self.settings.reply_window_s))

    def mark_reports_overdue(self) -> int:
        """Flag sent messages whose delivery report is later than `report_wait_s`."""
        return self.store.outbox.mark_reports_overdue(self.clock() - timedelta(seconds=self.settings.report_wait_s))

    def conversation(self, number: str, *, limit: int = 100) -> list:
        """Both directions of the exchange with `number`, oldest first."""
        return self.store.inbox.conversation(to_e164(number, self.settings.default_region, field="number"),
                                             limit=_page_size(limit))

    # --- webhooks ------------------------------------------------------------------------------

    def add_webhook(self, url: str | CallbackTarget, events: Sequence[str]) -> Webhook:
        """Register a receiver for `events` (a URL, or a compatibility door's target for its own shape); its
        signing secret is on the returned object (shown once)."""
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if not events or unknown:
            raise ValidationError(f"events must be among {', '.join(EVENT_TYPES)}", field="events")
        target = checked_target(url, field="url")
        return self.store.events.add_webhook(str(target), [e for e in EVENT_TYPES if e in events], self.clock())

    def sync_door_receivers(self, targets: Sequence[CallbackTarget], doors: Collection[str]) -> None:
        """Make this box's config's receivers of received SMS (`gateway.doors.Doors.receivers`) live: add those
        missing, drop the receivers of `doors` (the doors whose webhooks a config makes) it no longer names
        (other boxes' stay: several boxes may share a database)."""
        unclaimed = self.store.events.sync_config_receivers(
            self.store.db.box, [str(t) for t in targets], lambda url: CallbackTarget.parse(url).door in doors,
            self.clock())
        for webhook in unclaimed:
            log.warning("receiver %s (%s) was made by a config before boxes were recorded and this box's config "
                        "does not name it; if no box's does, delete it: DELETE /api/v1/webhooks/%s",
                        webhook.uid, CallbackTarget.parse(webhook.url).url, webhook.uid)

    def reply_to_inbound(self, received: dict, text: str) -> Message:
        """Send `text` to the sender of a received SMS (its inbox resource) through the modem it came in on, as
        a door's receiver asked (a TwiML <Message>, a Kannel get-url answer); its history names the SMS."""
        [message] = self.send(received["from"], text, via=received["modem"])
        self.store.inbox.mark_reply(message.uid, received["id"])
        return message

    def list_webhooks(self) -> list[Webhook]:
        return self.store.events.list_webhooks()

    def get_webhook(self, uid: str) -> Webhook:
        return self.store.events.get_webhook(uid)

    def delete_webhook(self, uid: str) -> None:
        self.store.events.delete_webhook(uid, self.clock())

    def list_deliveries(self, webhook_uid: str, *, limit: int = 50):
        """The webhook's latest deliveries, each with its event and attempts."""
        deliveries = self.store.events.list_deliveries(webhook_uid, limit=_page_size(limit))
        attempts = self.store.events.list_attempts([d.id for d in deliveries])
        events = self.store.events.event_types_of(deliveries)
        return [(d, events[d.event_id], attempts[d.id]) for d in deliveries]

    def redeliver(self, webhook_uid: str, delivery_uid: str):
        return self.store.events.redeliver(webhook_uid, delivery_uid, self.clock())

    def callback_secret(self) -> str:
        """The secret that signs status_callback POSTs (configured, or generated and kept)."""
        return self.webhook_settings.callback_secret or callback_secret(self.store, self.clock())

    # --- API keys ------------------------------------------------------------------------------

    def create_key(self, name: str, scopes: Sequence[str], *,
                   expires_in: timedelta | None = None) -> tuple[ApiKey, str]:
        """Create a key (refused after `expires_in`, when given); the token is returned once and only its
        hash is kept."""
        name = name.strip()
        if not name or len(name) > 64:
            raise ValidationError("a key needs a name of 1 to 64 characters", field="name")
        unknown = sorted(set(scopes) - set(apikeys.SCOPES))
        if unknown or not scopes:
            raise ValidationError(f"scopes must be among {', '.join(apikeys.SCOPES)}", field="scopes")
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValidationError("an expiry must lie in the future", field="expires_in")
        token = apikeys.new_token()
        now = self.clock()
        key = self.store.keys.add_key(name, apikeys.display_prefix(token), apikeys.token_hash(token),
                                      [s for s in apikeys.SCOPES if s in scopes], now,
                                      expires_at=None if expires_in is None else now + expires_in)
        return key, token

    def rotate_key(self, key_id: int, *, overlap: timedelta = timedelta(0),
                   expires_in: timedelta | None = None) -> tuple[ApiKey, str]:
        """A new key with the old one's name and scopes; the old one keeps working for `overlap` (both are
        valid during the change-over), then is refused. No overlap: the old one is revoked at once."""
        if overlap < timedelta(0):
            raise ValidationError("the overlap cannot be negative", field="overlap")
        old = self.store.keys.get_key(key_id)
        now = self.clock()
        if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
            raise ValidationError(f"API key {key_id} is revoked or expired: create a new one", field="id")
        key, token = self.create_key(old.name, old.scopes.split(","), expires_in=expires_in)
        if overlap:
            self.store.keys.expire_key(old.id, now + overlap)
        else:
            self.store.keys.revoke_key(old.id, now)
        self._recent_keys.forget_all()
        return key, token

    def list_keys(self) -> list[ApiKey]:
        return self.store.keys.list_keys()

    def revoke_key(self, key_id: int) -> ApiKey:
        key = self.store.keys.revoke_key(key_id, self.clock())
        self._recent_keys.forget_all()
        return key

    def authenticate_pair(self, username: str | None, password: str | None, scope: str) -> ApiKey:
        """For doors whose clients send a user name and a password (Kannel, SOAP, SMS Gateway for Android):
        the user name is the key's name and the password is the key's token."""
        key = self.authenticate(password, scope)
        if username is None or not hmac.compare_digest(username.encode(), key.name.encode()):
            raise AuthError("the user name is not the name of the API key given as the password")
        return key

    def live_key(self, matches: Callable[[ApiKey], bool]) -> ApiKey | None:
        """The first key (by id) that `matches` accepts and that is neither revoked nor expired: for doors whose
        clients name a key by something derived from it (an account id)."""
        now = self.clock()
        return next((key for key in self.store.keys.list_keys() if key.revoked_at is None
                     and (key.expires_at is None or key.expires_at > now) and matches(key)), None)

    @staticmethod
    def require_scope(key: ApiKey, scope: str) -> None:
        """ScopeError (403) unless `key` holds `scope` (or admin)."""
        if scope not in key.scopes.split(",") and "admin" not in key.scopes.split(","):
            raise ScopeError(f"the API key lacks the '{scope}' scope")

    def authenticate(self, token: str | None, scope: str) -> ApiKey:
        """The active key for `token` holding `scope`, or AuthError (401) / ScopeError (403)."""
        if not token:
            raise AuthError("an API key is required (Authorization: Bearer KEY or X-API-Key)")
        # The lookup is by SHA-256 of the token, so a timing difference in the index comparison can only
        # tell an attacker about the hash of what they sent, never about a stored token (finding a token
        # whose hash shares a prefix with a stored one is a preimage search). compare_digest on the hash
        # keeps the final equality check constant-time as well.
        digest = apikeys.token_hash(token)
        key = self._recent_keys.get(digest)
        if key is None:
            key = self.store.keys.find_key(digest)
            if key is not None:
                self._recent_keys.put(digest, key)
        if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
            raise AuthError("the API key is unknown or revoked")
        now = self.clock()
        if key.expires_at is not None and key.expires_at <= now:
            raise AuthError("the API key has expired")
        self.require_scope(key, scope)
        if key.last_used_at is None or now - key.last_used_at > KEY_TOUCH_INTERVAL:
            self.store.keys.touch_key(key.id, now)
            key.last_used_at = now  # the key as read serves the next requests for a moment
        return key


    # --- audit, retention and erasure -----------------------------------------------------------

    def audit(self, actor: str, action: str, *, target: str | None = None, remote_addr: str | None = None,
              detail: str | None = None) -> None:
        """Record an admin action: who (a key's name, "admin" for the status page, "cli"), what, where from."""
        self.store.audit.record_audit(actor, action, self.clock(), target=target, remote_addr=remote_addr,
                                      detail=detail)

    def list_audit(self, *, cursor: str | None = None, limit: int = 50):
        """Newest first, with the cursor of the next page (None at the end)."""
        size = _page_size(limit)
        entries = self.store.audit.list_audit(before_id=_cursor_id(cursor), limit=size)
        return entries, (str(entries[-1].id) if len(entries) == size else None)

    def purge_bodies(self) -> dict[str, int]:
        """Empty texts older than `messaging.body_retention_days` (0: keep them); the periodic job."""
        days = self.settings.body_retention_days
        if days <= 0:
            return {"messages": 0, "inbox": 0}
        return self.store.privacy.purge_bodies(self.clock() - timedelta(days=days))

    def erase_number(self, number: str) -> dict[str, int]:
        """Erase everything about `number` (a data subject's request); answers what was erased, counted."""
        return self.store.privacy.erase_number(to_e164(number, self.settings.default_region, field="number"))


def _page_size(limit: int) -> int:
    return max(1, min(int(limit), 200))


def _cursor_id(cursor: str | None) -> int | None:
    if cursor in (None, ""):
        return None
    if not cursor.isdigit():
        raise ValidationError("invalid cursor", field="cursor")
    return int(cursor)
