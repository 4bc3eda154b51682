"""Use cases the API and the CLI call: validate, normalise, one transaction, then wake the pool."""

from __future__ import annotations

import hmac
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol, Sequence

from gateway import keys
from gateway.config import MessagingSettings, WebhookSettings
from gateway.errors import (
    AuthError,
    ModemNotFound,
    MessageTooLong,
    ScopeError,
    TooManyRecipients,
    UnknownModem,
    ValidationError,
)
from gateway.numbers import to_e164
from gateway.sms import segment
from gateway.store.events import EVENT_TYPES
from gateway.store.models import ApiKey, InboxMessage, Message, MessageState, Modem, Webhook
from gateway.store.queries import MessageDraft, Store
from gateway.webhooks import account_auth_token, callback_secret, callback_target, webhook_url

KEY_TOUCH_INTERVAL = timedelta(seconds=60)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


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


class GatewayService:
    """The gateway's verbs. `pool` is told when new work is committed."""

    def __init__(self, store: Store, settings: MessagingSettings, pool: PoolControl | None = None,
                 clock: Callable[[], datetime] = utcnow, webhook_settings: WebhookSettings | None = None,
                 ussd_timeout_s: float = 30.0) -> None:
        self.store = store
        self.settings = settings
        self.pool = pool or NoPool()
        self.clock = clock
        self.webhook_settings = webhook_settings or WebhookSettings()
        self.ussd_timeout_s = ussd_timeout_s

    # --- sending -------------------------------------------------------------------------------

    def send(self, to: str | Sequence[str], body: str, *, delivery_report: bool | None = None,
             via: str | None = None, status_callback: str | None = None,
             api_key: ApiKey | None = None, callback_format: str | None = None) -> list[Message]:
        """Queue one message per distinct recipient; all or nothing. Returns the committed messages.

        `via` names the modem that must send it (a test from the status page, a reply from the same SIM);
        events about each message are POSTed to `status_callback` when given."""
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients:
            raise ValidationError("'to' must name at least one recipient", field="to")
        if len(recipients) > self.settings.max_recipients:
            raise TooManyRecipients(f"at most {self.settings.max_recipients} recipients per request, "
                                    f"got {len(recipients)}", field="to")
        numbers = list(dict.fromkeys(to_e164(r, self.settings.default_region) for r in recipients))
        text = self._normalise_body(body)
        segmentation = segment(text)
        if segmentation.part_count > self.settings.max_parts:
            raise MessageTooLong(f"the body needs {segmentation.part_count} {segmentation.encoding} parts; "
                                 f"at most {self.settings.max_parts} are allowed", field="body")
        wants_report = self.settings.delivery_report if delivery_report is None else delivery_report
        if via is not None and via not in {m.name for m in self.store.list_modems()}:
            raise UnknownModem(f"no modem named {via!r}", field="via")
        if status_callback is not None:
            status_callback = webhook_url(status_callback, field="status_callback")
            if callback_format is not None:  # a compatibility door's own callback shape (gateway.webhooks)
                status_callback = callback_target(callback_format, status_callback)
        drafts = [MessageDraft(to_number=n, body=text, encoding=segmentation.encoding, parts=segmentation.parts,
                               delivery_report=wants_report, via_modem=via, status_callback=status_callback)
                  for n in numbers]
        messages = self.store.enqueue(drafts, self.clock(), api_key_id=api_key.id if api_key else None)
        self.pool.wake()
        return messages

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
        return self.store.get_message(uid)

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
        page = self.store.list_messages(state=state_value, to_number=to_number, before_id=_cursor_id(cursor),
                                        limit=_page_size(limit))
        return page, (str(page[-1].id) if len(page) == _page_size(limit) else None)

    def cancel(self, uid: str) -> Message:
        return self.store.cancel(uid, self.clock())

    def retry(self, uid: str) -> Message:
        message = self.store.retry(uid, self.clock())
        self.pool.wake()
        return message

    # --- reading -------------------------------------------------------------------------------

    def list_inbox(self, *, cursor: str | None = None, limit: int = 50) -> tuple[list[InboxMessage], str | None]:
        page = self.store.list_inbox(before_id=_cursor_id(cursor), limit=_page_size(limit))
        return page, (str(page[-1].id) if len(page) == _page_size(limit) else None)

    def list_modems(self) -> list[Modem]:
        return self.store.list_modems()

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
        return self.store.flush_incomplete(now - timedelta(seconds=self.settings.reassembly_timeout_s), now,
                                           reply_since=now - timedelta(seconds=self.settings.reply_window_s))

    def mark_reports_overdue(self) -> int:
        """Flag sent messages whose delivery report is later than `report_wait_s`."""
        return self.store.mark_reports_overdue(self.clock() - timedelta(seconds=self.settings.report_wait_s))

    def conversation(self, number: str, *, limit: int = 100) -> list:
        """Both directions of the exchange with `number`, oldest first."""
        return self.store.conversation(to_e164(number, self.settings.default_region, field="number"),
                                       limit=_page_size(limit))

    # --- webhooks ------------------------------------------------------------------------------

    def add_webhook(self, url: str, events: Sequence[str], *, callback_format: str | None = None) -> Webhook:
        """Register a receiver for `events`; its signing secret is on the returned object (shown once).
        `callback_format` names a compatibility door's own shape for its deliveries (gateway.webhooks)."""
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if not events or unknown:
            raise ValidationError(f"events must be among {', '.join(EVENT_TYPES)}", field="events")
        url = webhook_url(url, field="url")
        if callback_format is not None:
            url = callback_target(callback_format, url)
        return self.store.add_webhook(url, [e for e in EVENT_TYPES if e in events], self.clock())

    def list_webhooks(self) -> list[Webhook]:
        return self.store.list_webhooks()

    def get_webhook(self, uid: str) -> Webhook:
        return self.store.get_webhook(uid)

    def delete_webhook(self, uid: str) -> None:
        self.store.delete_webhook(uid, self.clock())

    def list_deliveries(self, webhook_uid: str, *, limit: int = 50):
        """The webhook's latest deliveries, each with its event and attempts."""
        deliveries = self.store.list_deliveries(webhook_uid, limit=_page_size(limit))
        attempts = self.store.list_attempts([d.id for d in deliveries])
        events = self.store.event_types_of(deliveries)
        return [(d, events[d.event_id], attempts[d.id]) for d in deliveries]

    def redeliver(self, webhook_uid: str, delivery_uid: str):
        return self.store.redeliver(webhook_uid, delivery_uid, self.clock())

    def callback_secret(self) -> str:
        """The secret that signs status_callback POSTs (configured, or generated and kept)."""
        return self.webhook_settings.callback_secret or callback_secret(self.store, self.clock())

    # --- API keys ------------------------------------------------------------------------------

    def create_key(self, name: str, scopes: Sequence[str]) -> tuple[ApiKey, str]:
        """Create a key; the token is returned once and only its hash is kept."""
        name = name.strip()
        if not name or len(name) > 64:
            raise ValidationError("a key needs a name of 1 to 64 characters", field="name")
        unknown = sorted(set(scopes) - set(keys.SCOPES))
        if unknown or not scopes:
            raise ValidationError(f"scopes must be among {', '.join(keys.SCOPES)}", field="scopes")
        token = keys.new_token()
        key = self.store.add_key(name, keys.display_prefix(token), keys.token_hash(token),
                                 [s for s in keys.SCOPES if s in scopes], self.clock())
        return key, token

    def list_keys(self) -> list[ApiKey]:
        return self.store.list_keys()

    def revoke_key(self, key_id: int) -> ApiKey:
        return self.store.revoke_key(key_id, self.clock())

    def authenticate_pair(self, username: str | None, password: str | None, scope: str) -> ApiKey:
        """For doors whose clients send a user name and a password (Kannel, SOAP, SMS Gateway for Android):
        the user name is the key's name and the password is the key's token."""
        key = self.authenticate(password, scope)
        if username is None or not hmac.compare_digest(username.encode(), key.name.encode()):
            raise AuthError("the user name is not the name of the API key given as the password")
        return key

    def authenticate_account(self, sid: str | None, secret: str | None, scope: str) -> ApiKey:
        """For the Twilio door: `sid` is the key's account SID and `secret` either the key's token
        or the key's account auth token (see `account_auth_token`)."""
        if not sid or not secret:
            raise AuthError("an account SID and an auth token are required (HTTP Basic)")
        if secret.startswith(keys.TOKEN_PREFIX):
            key = self.authenticate(secret, scope)
            if account_sid(key.key_hash) != sid:
                raise AuthError("the account SID is not the API key's")
            return key
        for key in self.store.list_keys():
            if key.revoked_at is None and account_sid(key.key_hash) == sid:
                if not hmac.compare_digest(self.account_auth_token(sid), secret):
                    break
                if scope not in key.scopes.split(",") and "admin" not in key.scopes.split(","):
                    raise ScopeError(f"the API key lacks the '{scope}' scope")
                return key
        raise AuthError("the account SID or auth token is unknown or revoked")

    def account_auth_token(self, account_sid: str) -> str:
        """The Twilio-style auth token of an account: derived from the gateway's callback secret, so the
        webhook worker can sign the account's callbacks with it (X-Twilio-Signature)."""
        return account_auth_token(self.callback_secret(), account_sid)

    def authenticate(self, token: str | None, scope: str) -> ApiKey:
        """The active key for `token` holding `scope`, or AuthError (401) / ScopeError (403)."""
        if not token:
            raise AuthError("an API key is required (Authorization: Bearer KEY or X-API-Key)")
        key = self.store.find_key(keys.token_hash(token))
        if key is None or key.revoked_at is not None:
            raise AuthError("the API key is unknown or revoked")
        if scope not in key.scopes.split(",") and "admin" not in key.scopes.split(","):
            raise ScopeError(f"the API key lacks the '{scope}' scope")
        now = self.clock()
        if key.last_used_at is None or now - key.last_used_at > KEY_TOUCH_INTERVAL:
            self.store.touch_key(key.id, now)
        return key


def account_sid(key_hash: str) -> str:
    """A key's Twilio-style account SID ("AC" + 32 hex digits): the first half of its token's SHA-256."""
    return "AC" + key_hash[:32]


def _page_size(limit: int) -> int:
    return max(1, min(int(limit), 200))


def _cursor_id(cursor: str | None) -> int | None:
    if cursor in (None, ""):
        return None
    if not cursor.isdigit():
        raise ValidationError("invalid cursor", field="cursor")
    return int(cursor)
