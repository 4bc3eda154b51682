"""Messages: queue them (validate, normalise, route, one transaction, then wake the pool), read them, cancel and
retry them; the inbox and conversations."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from gateway.config import MessagingSettings
from gateway.core.accounts import charged
from gateway.core.consent import Consent
from gateway.core.ports import PoolControl
from gateway.core.queue_policy import QueuePolicy
from gateway.core.outbound import CallbackDestinations
from gateway.core.webhooks import checked_target
from gateway.doors import CallbackTarget
from gateway.errors import MessageNotFound, MessageTooLong, TooManyRecipients, ValidationError
from gateway.rules.numbers import takes_replies, to_e164
from gateway.rules.paging import cursor_id, next_cursor, page_size
from gateway.rules.routing import Route
from gateway.rules.text import normalise_body, segment
from gateway.rules.timing import parse_priority, parse_send_at, parse_validity
from gateway.store import Store
from gateway.store.inbox import PartGroup
from gateway.store.models import Account, ApiKey, InboxMessage, Message, QuarantinedSms, Thread
from gateway.values import MessageDraft, MessageState

log = logging.getLogger(__name__)



class Messages:
    """Verbs on messages out and in. `pool` is told when new work is committed."""

    def __init__(self, store: Store, settings: MessagingSettings, pool: PoolControl, clock: Callable[[], datetime],
                 policy: QueuePolicy, consent: Consent, destinations: CallbackDestinations) -> None:
        self._store, self._settings, self._pool, self._clock = store, settings, pool, clock
        self._policy, self._consent, self._destinations = policy, consent, destinations

    def send(self, to: str | Sequence[str], body: str, *, delivery_report: bool | None = None,
             via: str | None = None, status_callback: str | CallbackTarget | None = None,
             api_key: ApiKey | None = None,
             priority: str | None = None, send_at: str | None = None, time_zone: str | None = None,
             validity: int | float | str | None = None, message_class: str | None = None,
             quiet_hours: bool | str | None = None, force_ucs2: bool = False,
             account: Account | None = None) -> list[Message]:
        """Queue one message per distinct recipient; all or nothing. Returns the committed messages.

        `via` names the modem that must send it (a test from the status page, a reply from the same SIM) or
        a routing group whose modems may; events about each message are POSTed to `status_callback` when
        given. `priority` (high, normal, bulk) orders the queue; `send_at` (with `time_zone` when it has no
        offset) holds the messages until then; `validity` expires them when not sent in time; a `marketing`
        `message_class` is held while it is `quiet_hours` where the recipient lives (gateway.rules.timing);
        `force_ucs2` sends UCS-2 even when the text fits GSM-7 (Kannel's coding=2). The messages count against
        `account` (a person's), else the API key's: they leave only by its routes, and past its quota nothing is
        queued (QuotaExceeded)."""
        recipients = [to] if isinstance(to, str) else list(to)
        if not recipients:
            raise ValidationError("'to' must name at least one recipient", field="to")
        if len(recipients) > self._settings.max_recipients:
            raise TooManyRecipients(f"at most {self._settings.max_recipients} recipients per request, "
                                    f"got {len(recipients)}", field="to")
        numbers = list(dict.fromkeys(to_e164(r, self._settings) for r in recipients))
        self._consent.refuse_opted_out(numbers, message_class)
        text = normalise_body(body)
        segmentation = segment(text, force_ucs2=force_ucs2)
        if segmentation.part_count > self._settings.max_parts:
            raise MessageTooLong(f"the body needs {segmentation.part_count} {segmentation.encoding} parts; "
                                 f"at most {self._settings.max_parts} are allowed", field="body")
        wants_report = self._settings.delivery_report if delivery_report is None else delivery_report
        order = parse_priority(priority)
        hold_until = parse_send_at(send_at, time_zone)
        lifetime = parse_validity(validity)
        quiet_window = self._policy.quiet_window(message_class, quiet_hours)
        start = max(hold_until or self._clock(), self._clock())
        holds = self._policy.quiet_holds(dict.fromkeys(numbers, start), quiet_window)
        account = charged(self._store, api_key, account)
        placements = self._policy.placements(numbers, via, account)
        if status_callback is not None:
            status_callback = str(checked_target(status_callback, self._destinations, field="status_callback"))
        drafts = [MessageDraft(to_number=n, body=text, encoding=segmentation.encoding, parts=segmentation.parts,
                               delivery_report=wants_report, status_callback=status_callback, priority=order,
                               send_at=holds.get(n, hold_until),
                               expires_at=None if lifetime is None else max(holds.get(n, hold_until) or self._clock(),
                                                                            self._clock()) + lifetime,
                               quiet_hours=quiet_window, **placements[n])
                  for n in numbers]
        messages = self._store.outbox.enqueue(self._policy.priced(drafts, account), self._clock(),
                                              api_key_id=api_key.id if api_key else None,
                                              account=account)
        self._pool.wake()
        return messages

    def get_message(self, uid: str, seen_by: Account | None = None) -> Message:
        """Message `uid`; `seen_by`: an account, whose people and keys see only its own messages (MessageNotFound
        for another's, as for none)."""
        message = self._store.outbox.get_message(uid)
        if seen_by is not None and message.account_id != seen_by.id:
            raise MessageNotFound(f"no message {uid}", field="id")
        return message

    def list_messages(self, *, state: str | None = None, to: str | None = None, modem: str | None = None,
                      since: str | None = None, batch: str | None = None, cursor: str | None = None,
                      limit: int = 50, seen_by: Account | None = None) -> tuple[list[Message], str | None]:
        """A page of messages, newest first, and the cursor of the next page (None at the end). `since` is a date
        or a time (ISO 8601, UTC when it has no offset); `seen_by`: only that account's."""
        state_value = None
        if state is not None:
            try:
                state_value = MessageState(state)
            except ValueError:
                raise ValidationError(f"unknown status {state!r}; one of "
                                      f"{', '.join(s.value for s in MessageState)}", field="status") from None
        to_number = to_e164(to, self._settings, field="to") if to else None
        page = self._store.outbox.list_messages(state=state_value, to_number=to_number, modem=modem or None,
                                               since=_moment(since) if since else None, batch_uid=batch or None,
                                               account_id=seen_by.id if seen_by is not None else None,
                                               before_id=cursor_id(cursor), limit=page_size(limit))
        return page, next_cursor(page, limit)

    def cancel(self, uid: str, seen_by: Account | None = None) -> Message:
        if seen_by is not None:
            self.get_message(uid, seen_by)
        return self._store.outbox.cancel(uid, self._clock())

    def retry(self, uid: str, seen_by: Account | None = None) -> Message:
        if seen_by is not None:
            self.get_message(uid, seen_by)
        message = self._store.outbox.retry(uid, self._clock())
        self._pool.wake()
        return message

    def list_inbox(self, *, cursor: str | None = None, limit: int = 50) -> tuple[list[InboxMessage], str | None]:
        page = self._store.inbox.list_inbox(before_id=cursor_id(cursor), limit=page_size(limit))
        return page, next_cursor(page, limit)

    def waiting_parts(self) -> list[tuple[PartGroup, datetime]]:
        """Multi-part SMS still waiting for parts, each with when it is flushed if the rest never comes."""
        timeout = timedelta(seconds=self._settings.reassembly_timeout_s)
        return [(group, group.last_received_at + timeout) for group in self._store.inbox.waiting_parts()]

    def list_quarantine(self, *, cursor: str | None = None,
                        limit: int = 50) -> tuple[list[QuarantinedSms], str | None]:
        page = self._store.inbox.list_quarantine(before_id=cursor_id(cursor), limit=page_size(limit))
        return page, next_cursor(page, limit)

    def conversation(self, number: str, *, limit: int = 100) -> list[Message | InboxMessage]:
        """Both directions of the exchange with `number`, oldest first; an alphanumeric sender ID (`BANK`) is
        matched as it is (only SMS from it can be in its thread)."""
        return self._store.inbox.conversation(self.party(number), limit=page_size(limit))

    def party(self, number: str) -> str:
        """The other side of a conversation as stored: a number in E.164, or an alphanumeric sender ID as is."""
        return (to_e164(number, self._settings, field="number") if takes_replies(re.sub(r"[\s().-]", "", number))
                else number.strip()[:32])

    def threads(self, limit: int = 50, numbers: Sequence[str] | None = None) -> list[Thread]:
        """The conversations, the latest first: who, when, how many unread, the last message."""
        return self._store.inbox.threads(page_size(limit), numbers)

    def mark_read(self, party: str) -> int:
        """Everything received from `party` (as `party` gives it) has been read now."""
        return self._store.inbox.mark_read(party, self._clock())

    def reply_to_inbound(self, received: dict[str, Any], text: str) -> Message:
        """Send `text` to the sender of a received SMS (its inbox resource) through the modem it came in on, as
        a door's receiver asked (a TwiML <Message>, a Kannel get-url answer); its history names the SMS.
        ValidationError when the sender is an alphanumeric ID (`BANK`), which no reply can reach."""
        if not takes_replies(received["from"]):
            raise ValidationError(f"{received['from']!r} is an alphanumeric sender; no reply can reach it", field="to")
        [message] = self.send(received["from"], text, via=received["modem"])
        self._store.inbox.mark_reply(message.uid, received["id"])
        return message

    def explain_route(self, to: str) -> Route:
        """How a message to `to` would be routed now, and why (GET /api/v1/routes)."""
        return self._policy.explain(to_e164(to, self._settings, field="to"))

    def flush_incomplete_inbound(self) -> int:
        """Deliver what arrived of incoming multi-part SMS whose other parts never came."""
        now = self._clock()
        return self._store.inbox.flush_incomplete(now - timedelta(seconds=self._settings.reassembly_timeout_s), now,
                                                 reply_since=now - timedelta(seconds=self._settings.reply_window_s))

    def mark_reports_overdue(self) -> int:
        """Flag sent messages whose delivery report is later than `report_wait_s`."""
        return self._store.outbox.mark_reports_overdue(self._clock() - timedelta(seconds=self._settings.report_wait_s))


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"since: {text!r} is not a date or time like 2026-12-01 or 2026-12-01T08:00",
                              field="since") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
