"""Batches: one bulk request (CSV rows, or a template's parameters) queued as many messages, counted together."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from gateway.config import MessagingSettings
from gateway.core.accounts import charged
from gateway.core.consent import Consent
from gateway.core.ports import PoolControl
from gateway.core.queue_policy import QueuePolicy
from gateway.core.templates import Templates
from gateway.errors import (
    BatchNotFound,
    ConflictError,
    MessageTooLong,
    RecipientOptedOut,
    TemplateParamsError,
    TooManyRecipients,
    ValidationError,
)
from gateway.rules import templates
from gateway.rules.numbers import to_e164
from gateway.rules.text import Segmentation, normalise_body, segment
from gateway.rules.timing import RECIPIENT_ZONE, check_message_class, parse_send_at, send_at_for
from gateway.store import Store
from gateway.store.models import Account, ApiKey, Batch, Message
from gateway.values import PRIORITIES, MessageDraft, MessageState

log = logging.getLogger(__name__)

Planned = tuple[int, str, str, Segmentation]  # a message of a batch: its row, number, text and segmentation


class Batches:
    """Verbs on batches."""

    def __init__(self, store: Store, settings: MessagingSettings, pool: PoolControl, clock: Callable[[], datetime],
                 policy: QueuePolicy, consent: Consent, templates: Templates) -> None:
        self._store, self._settings, self._pool, self._clock = store, settings, pool, clock
        self._policy, self._consent, self._templates = policy, consent, templates

    def send_batch(self, columns: Sequence[str], rows: Sequence[tuple[int, dict[str, str]]], *,
                   template: str | None = None, message_class: str | None = None,
                   api_key: ApiKey | None = None) -> tuple[Batch, dict[str, int]]:
        """Queue one bulk-priority message per good row (`to` and a `body`, or `to` and the template's
        parameters); bad rows are reported by row number and the good ones still go. They count against the
        key's account as `Messages.send`'s do: all of them, or none past its quota."""
        if not rows:
            raise ValidationError("the batch has no rows", field="body")
        if len(rows) > self._settings.max_recipients:
            raise TooManyRecipients(f"at most {self._settings.max_recipients} rows per batch, got {len(rows)}",
                                    field="body")
        check_message_class(message_class)
        account = charged(self._store, api_key, None)
        text = self._templates.template_text(template, None, account) if template is not None else None
        wanted = {"to", *templates.placeholders(text)} if text is not None else {"to", "body"}
        for column in [*wanted - set(columns), *set(columns) - wanted]:
            raise TemplateParamsError(f"the columns must be {', '.join(sorted(wanted))}; {column!r} is "
                                      f"{'missing' if column in wanted else 'not one of them'}",
                                      field=f"params.{column}" if column != "to" else "to")
        good, rejected = [], []
        for row_number, row in rows:
            try:
                if None in row or any(v is None for v in row.values()):
                    raise ValidationError("the row has a different number of fields than the header", field="row")
                number = to_e164(row["to"], self._settings)
                body = templates.render(text, {k: v for k, v in row.items() if k != "to"}) if text else row["body"]
                good.append((row_number, number, body, self._segmented(body)))
            except ValidationError as exc:
                rejected.append(_rejection(row_number, exc))
        good, rejected = self._without_opted_out(good, rejected, message_class)
        return self._queue(good, rejected, len(rows), template, message_class, account, api_key)

    def send_to_contacts(self, contacts: Sequence[tuple[str, str, dict[str, str]]], *, body: str | None = None,
                         template: str | None = None, message_class: str | None = None,
                         send_at: str | None = None, time_zone: str | None = None,
                         api_key: ApiKey | None = None, account: Account | None = None
                         ) -> tuple[Batch, dict[str, int]]:
        """Queue one bulk-priority message per contact (number, name, fields: a group's members), as
        `plan_for_contacts` plans them, held until `send_at` (as `send` reads it) when given; with `time_zone`
        "recipient", until that time where each recipient lives. They count against `account` (a person's),
        else the key's."""
        local = time_zone == RECIPIENT_ZONE
        hold_until = parse_send_at(send_at, "UTC" if local else time_zone)  # refuses a bad `send_at` either way
        account = charged(self._store, api_key, account)
        good, rejected = self.plan_for_contacts(contacts, body=body, template=template, message_class=message_class,
                                                account=account)
        local_holds = {number: send_at_for(send_at, time_zone, number) for _, number, _, _ in good} if local else {}
        return self._queue(good, rejected, len(contacts), template, message_class, account, api_key, hold_until,
                           local_holds)

    def plan_for_contacts(self, contacts: Sequence[tuple[str, str, dict[str, str]]], *, body: str | None = None,
                          template: str | None = None, message_class: str | None = None,
                          account: Account | None = None) -> tuple[list[Planned], list[dict[str, Any]]]:
        """What a message to `contacts` would be, queueing nothing: one text per contact (`body`, or the template
        `template` that `account` may use, filled with the contact's {name}, {number} and fields) as (position,
        number, text, its segmentation), and the contacts left out by position (row 1 is the first): a field the
        text uses missing, or opted out where the class says so."""
        if not contacts:
            raise ValidationError("the group has no members", field="group")
        if len(contacts) > self._settings.max_recipients:
            raise TooManyRecipients(f"at most {self._settings.max_recipients} recipients per request, the group has "
                                    f"{len(contacts)}", field="group")
        check_message_class(message_class)
        if body is not None and template is not None:
            raise ValidationError("give 'body' or 'template', not both", field="template")
        text = (self._templates.template_text(template, None, account) if template
                else self._templates.message_text(body))
        wanted = templates.placeholders(normalise_body(text))
        good, rejected = [], []
        for row_number, (number, name, fields) in enumerate(contacts, start=1):
            values = {**fields, "name": name, "number": number}
            missing = [p for p in wanted if not values.get(p)]
            try:
                if missing:
                    raise TemplateParamsError(f"{number} has no {missing[0]}", field=f"params.{missing[0]}")
                filled = templates.render(text, {p: values[p] for p in wanted})
                good.append((row_number, number, filled, self._segmented(filled)))
            except ValidationError as exc:
                rejected.append(_rejection(row_number, exc))
        return self._without_opted_out(good, rejected, message_class)

    def cost_estimate(self, planned: Sequence[Planned], account: Account | None = None,
                      via: str | None = None) -> float:
        """What `planned` messages would cost at today's route and modem costs (parts × cost per part), sent by
        `via` or as routed, inside `account`'s routes."""
        numbers = list(dict.fromkeys(number for _, number, _, _ in planned))
        placed = via is not None or (account is not None and bool(account.route_list))
        per_part = self._policy.cost_per_part(numbers, self._policy.placements(numbers, via, account)
                                              if placed else None)
        return sum(segmentation.part_count * per_part[number] for _, number, _, segmentation in planned)

    def _without_opted_out(self, good: list[Planned], rejected: list[dict[str, Any]], message_class: str | None
                           ) -> tuple[list[Planned], list[dict[str, Any]]]:
        """`good` less the opted-out recipients where the class says so, who join `rejected`."""
        if not self._consent.applies_to(message_class):
            return good, rejected
        blocked = self._store.consent.suppressed_among(list({number for _, number, _, _ in good}))
        rejected = rejected + [{"row": row_number, "field": "to", "code": RecipientOptedOut.code,
                                "message": f"{number} opted out"} for row_number, number, _, _ in good
                               if number in blocked]
        return [g for g in good if g[1] not in blocked], rejected

    def _segmented(self, body: str) -> Segmentation:
        segmentation = segment(normalise_body(body))
        if segmentation.part_count > self._settings.max_parts:
            raise MessageTooLong(f"the text needs {segmentation.part_count} parts", field="body")
        return segmentation

    def _queue(self, good: list[Planned], rejected: list[dict[str, Any]], total: int, template: str | None,
               message_class: str | None, account: Account | None, api_key: ApiKey | None,
               hold_until: datetime | None = None, local_holds: Mapping[str, datetime | None] | None = None
               ) -> tuple[Batch, dict[str, int]]:
        """The good rows queued as one batch (held until `hold_until` when given, or each number until its
        `local_holds`; quiet hours, routes and `account` applied as `send` does), the rejected ones kept with
        it."""
        numbers = list(dict.fromkeys(number for _, number, _, _ in good))
        now = self._clock()
        held = {n: (local_holds or {}).get(n, hold_until) for n in numbers}
        quiet_window = self._policy.quiet_window(message_class, None)  # as `send` does
        holds = self._policy.quiet_holds({n: max(held[n] or now, now) for n in numbers}, quiet_window)
        placements = self._policy.placements(numbers, None, account)
        drafts = [MessageDraft(to_number=number, body=body, encoding=segmentation.encoding, parts=segmentation.parts,
                               delivery_report=self._settings.delivery_report, priority=PRIORITIES["bulk"],
                               send_at=holds.get(number, held[number]), quiet_hours=quiet_window,
                               **placements[number])
                  for _, number, body, segmentation in good]
        batch = self._store.batches.enqueue_batch(self._policy.priced(drafts, account),
                                                 sorted(rejected, key=lambda r: r["row"]), total, template,
                                                 self._clock(), api_key_id=api_key.id if api_key else None,
                                                 account=account)
        self._pool.wake()
        return self._store.batches.get_batch(batch.uid)

    def get_batch(self, uid: str, seen_by: Account | None = None) -> tuple[Batch, dict[str, int]]:
        """Batch `uid` and its messages counted by state; `seen_by`: an account, whose people and keys see only
        its own batches (BatchNotFound for another's, as for none)."""
        batch, counts = self._store.batches.get_batch(uid)
        if seen_by is not None and batch.account_id != seen_by.id:
            raise BatchNotFound(f"no batch {uid}", field="id")
        return batch, counts

    def batch_messages(self, uid: str, seen_by: Account | None = None) -> list[Message]:
        if seen_by is not None:
            self.get_batch(uid, seen_by)
        return self._store.batches.batch_messages(uid)

    def cancel_batch(self, uid: str, seen_by: Account | None = None) -> int:
        """Cancel the batch's messages that have not started; how many. One that started meanwhile goes on."""
        return self._each(uid, seen_by, (MessageState.QUEUED, MessageState.SCHEDULED), self._store.outbox.cancel)

    def retry_failed(self, uid: str, seen_by: Account | None = None) -> int:
        """Queue the batch's failed messages again; how many."""
        retried = self._each(uid, seen_by, (MessageState.FAILED,), self._store.outbox.retry)
        if retried:
            self._pool.wake()
        return retried

    def _each(self, uid: str, seen_by: Account | None, states: tuple[MessageState, ...],
              verb: Callable[[str, datetime], Message]) -> int:
        done = 0
        for message in self.batch_messages(uid, seen_by):
            if message.state in states:
                try:
                    verb(message.uid, self._clock())
                    done += 1
                except ConflictError:  # it moved on meanwhile (sent, or retried by someone else)
                    continue
        return done


def _rejection(row_number: int, exc: ValidationError) -> dict[str, Any]:
    return {"row": row_number, "field": exc.field, "code": exc.code, "message": exc.message}
