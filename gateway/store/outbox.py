"""Outbound messages: the one enqueue path, claims, per-part records, retries, crash recovery."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Sequence, TypeVar, cast

from sqlalchemy import Select, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, configure_mappers, selectinload

from gateway.errors import ClaimLost, ConflictError, MessageNotFound
from gateway.rules import quota
from gateway.rules.claiming import AVOID_GRACE_S, COST_GRACE_S, UNLIMITED, ClaimLimits, quiet_until
from gateway.rules.routing import DEFAULT_GROUP
from gateway.store.accounts import count_use, use_of
from gateway.store.database import Database, changed, new_uid
from gateway.store.events import Events
from gateway.store.models import (Account, Base, Batch, BatchMessage, InboxMessage, Message, MessageEvent, Modem,
                                  OtpCode, Part, table)
from gateway.store.reports import apply_early_reports
from gateway.store.transitions import fail_remaining, mark_unknown, message_resource, transition
from gateway.values import (CANCELLABLE, PRIORITIES, RETRYABLE, Encoding, MessageDraft, MessageState, ModemState,
                            PartState, SendJob, SentPart)

QUIET_HOLDS_PER_CLAIM = 50  # a claim puts back at most this many messages caught by quiet hours


# --- the hot path's statements, built once: building SQLAlchemy expressions on each call cost more than
# running them (several ms per message). Parameters are bound by name (p_*) at execution.
_messages, _parts, _events, _modems = (table(Message), table(Part), table(MessageEvent),
                                       table(Modem))
_inbox = table(InboxMessage)
_MAY_TAKE = (
    _messages.c.state == MessageState.QUEUED,
    or_(_messages.c.pinned_modem.is_(None), _messages.c.pinned_modem == bindparam("p_modem")),
    or_(_messages.c.route_group.is_(None), _messages.c.route_group == bindparam("p_group")),
    or_(_messages.c.expires_at.is_(None), _messages.c.expires_at > bindparam("p_now")),
)


def _claim(*only: Any) -> Any:
    """The claim statement, with `only` further conditions on the message (a degraded modem: its own probes)."""
    return (
        update(_messages)
        .where(
            _messages.c.id == select(_messages.c.id)
            .where(*_MAY_TAKE, *only, _messages.c.next_attempt_at <= bindparam("p_now"),
                   or_(_messages.c.avoid_modem.is_(None), _messages.c.avoid_modem != bindparam("p_modem"),
                       _messages.c.next_attempt_at <= bindparam("p_avoided_due")),
                   # left to a cheaper modem ready to claim it (any modem of p_cheaper_groups may send it), a while
                   or_(_messages.c.next_attempt_at <= bindparam("p_cost_due"), _messages.c.pinned_modem.is_not(None),
                       _messages.c.route_group.not_in(bindparam("p_cheaper_groups", expanding=True))))
            .order_by(_messages.c.priority, _messages.c.id).limit(1)
            .with_for_update(skip_locked=True).scalar_subquery(),
            _messages.c.state == MessageState.QUEUED,
        )
        .values(state=MessageState.SENDING, modem=bindparam("p_modem"), updated_at=bindparam("p_now"),
                lease_until=bindparam("p_lease_until"), attempts=_messages.c.attempts + 1)
        .returning(_messages.c.id, _messages.c.uid, _messages.c.to_number, _messages.c.encoding,
                   _messages.c.concat_ref, _messages.c.delivery_report, _messages.c.attempts,
                   _messages.c.status_callback, _messages.c.quiet_hours, _messages.c.priority)
    )


_CLAIM = _claim()
_PINNED_HERE = _messages.c.pinned_modem == bindparam("p_modem")  # sent `via` it by name: its limits do not apply
_CLAIM_PINNED = _claim(_PINNED_HERE)
_CLAIM_LIMITED = _claim(or_(_PINNED_HERE, and_(
    _messages.c.next_attempt_at <= bindparam("p_due"), _messages.c.priority <= bindparam("p_max_priority"),
    or_(_messages.c.priority != PRIORITIES["high"], _messages.c.next_attempt_at <= bindparam("p_urgent_due")))))
_HOLD_QUIET = update(_messages).where(_messages.c.id == bindparam("p_message_id")).values(
    state=MessageState.SCHEDULED, modem=None, lease_until=None, attempts=_messages.c.attempts - 1,
    next_attempt_at=bindparam("p_until"), updated_at=bindparam("p_now"))
_GROUP = func.coalesce(_modems.c.group, DEFAULT_GROUP)
_ONLINE_GROUPS = select(_GROUP).where(_modems.c.state == ModemState.ONLINE)
_LIVE_GROUPS = select(_GROUP).where(_modems.c.state.in_([ModemState.ONLINE, ModemState.CONNECTING]))  # (re)starting
_FAIL_OVER = (
    update(_messages)
    .where(_messages.c.id.in_(
        select(_messages.c.id)
        .where(_messages.c.state == MessageState.QUEUED, _messages.c.fallback_group.is_not(None),
               _messages.c.pinned_modem.is_(None),  # a part already left there: the rest must follow it
               _messages.c.route_group.not_in(_LIVE_GROUPS), _messages.c.fallback_group.in_(_ONLINE_GROUPS))
        .with_for_update(skip_locked=True).scalar_subquery()),  # PostgreSQL: boxes never wait on each other
        _messages.c.state == MessageState.QUEUED, _messages.c.fallback_group.is_not(None))
    .values(route_group=_messages.c.fallback_group, fallback_group=None, updated_at=bindparam("p_now"))
    .returning(_messages.c.id, _messages.c.route_group)
)
_PARTS_OF = select(_parts.c.seq, _parts.c.text, _parts.c.state).where(
    _parts.c.message_id == bindparam("p_message_id")).order_by(_parts.c.seq)
_SET_PART = update(_parts).where(_parts.c.message_id == bindparam("p_message_id"),
                                 _parts.c.seq == bindparam("p_seq"))
_MARK_SUBMITTING = _SET_PART.values(state=PartState.SUBMITTING, modem=bindparam("p_modem"),
                                    submitted_at=bindparam("p_now"))
_NOTE_ANSWER = _SET_PART.values(reference=bindparam("p_reference"), sent_at=bindparam("p_now"))  # still SUBMITTING
_MARK_SUBMITTING_HELD = _MARK_SUBMITTING.where(exists(  # still this modem's claim (the message row locked)
    select(_messages.c.id).where(_messages.c.id == bindparam("p_message_id"), _messages.c.state == MessageState.SENDING,
                                 _messages.c.modem == bindparam("p_modem")).with_for_update()))
_STATE_OF = select(_messages.c.state).where(_messages.c.id == bindparam("p_message_id"))
_RENEW_LEASE = update(_messages).where(_messages.c.id == bindparam("p_message_id"),
                                       _messages.c.state == MessageState.SENDING).values(
    lease_until=bindparam("p_lease_until"))
_MARK_PART_SENT = _SET_PART.values(state=PartState.SENT, reference=bindparam("p_reference"),
                                   sent_at=bindparam("p_now"), modem=bindparam("p_modem"),
                                   text=func.coalesce(_parts.c.masked_text, _parts.c.text), masked_text=None)
_GIVE_BACK = update(_messages).where(
    _messages.c.id == bindparam("p_message_id"), _messages.c.state == MessageState.SENDING,
    _messages.c.modem == bindparam("p_modem")).values(
    state=MessageState.QUEUED, modem=None, lease_until=None, attempts=_messages.c.attempts - 1,
    updated_at=bindparam("p_now"))
_UNMARK_SUBMITTING = update(_parts).where(_parts.c.message_id == bindparam("p_message_id"),
                                          _parts.c.state == PartState.SUBMITTING).values(
    state=PartState.PENDING, modem=None, submitted_at=None)
_SET_MESSAGE = update(_messages).where(_messages.c.id == bindparam("p_message_id"))
_PIN_MESSAGE = _SET_MESSAGE.values(pinned_modem=bindparam("p_modem"))
_MARK_MESSAGE_SENT = _SET_MESSAGE.values(pinned_modem=bindparam("p_modem"), state=MessageState.SENT,
                                         sent_at=bindparam("p_now"), updated_at=bindparam("p_now"),
                                         lease_until=None)
# (id, uid) in any order: ordered RETURNING would make SQLite insert the rows one statement each
_ADD_MESSAGES = insert(_messages).returning(_messages.c.id, _messages.c.uid)
_ADD_PARTS = insert(_parts)
_ADD_EVENTS = insert(_events)
_COUNT_SENT = update(_modems).where(_modems.c.name == bindparam("p_modem")).values(
    sent_count=_modems.c.sent_count + 1)
_MAY_TAKE_PRIORITY = or_(_PINNED_HERE, _messages.c.priority.between(bindparam("p_min_priority"),
                                                                     bindparam("p_max_priority")))
_EARLIEST_FREE = select(func.min(_messages.c.next_attempt_at)).where(
    *_MAY_TAKE, _MAY_TAKE_PRIORITY,
    or_(_messages.c.avoid_modem.is_(None), _messages.c.avoid_modem != bindparam("p_modem")))
_EARLIEST_AVOIDED = select(func.min(_messages.c.next_attempt_at)).where(
    *_MAY_TAKE, _MAY_TAKE_PRIORITY, _messages.c.avoid_modem == bindparam("p_modem"))
_LAST_INBOUND = select(_inbox.c.sender, _inbox.c.modem).where(
    _inbox.c.sender.in_(bindparam("p_numbers", expanding=True))).order_by(_inbox.c.id)  # the last one wins
_EARLIEST_SCHEDULED = select(func.min(_messages.c.next_attempt_at)).where(
    _messages.c.state == MessageState.SCHEDULED)
_DUE_SCHEDULED = (select(_messages.c.id).where(_messages.c.state == MessageState.SCHEDULED,
                                               _messages.c.next_attempt_at <= bindparam("p_now"))
                  .with_for_update(skip_locked=True))
_RELEASE_SCHEDULED = update(_messages).where(_messages.c.id.in_(bindparam("p_ids", expanding=True)),
                                             _messages.c.state == MessageState.SCHEDULED).values(
    state=MessageState.QUEUED, updated_at=bindparam("p_now"))


class Outbox:
    """Verbs on outbound messages and their parts. Events (sent, failed, …) go out through `events` in the
    transaction of the change that fires them."""

    def __init__(self, db: Database, events: Events) -> None:
        self._db, self._events = db, events

    def enqueue(self, drafts: Sequence[MessageDraft], now: datetime, api_key_id: int | None = None,
                account: Account | None = None) -> list[Message]:
        """Commit one queued message per draft, parts and first history row included, in one transaction."""
        with self._db.write_core() as conn:
            return self.insert(conn, drafts, now, api_key_id, account)

    def insert(self, conn: Connection, drafts: Sequence[MessageDraft], now: datetime,
               api_key_id: int | None = None, account: Account | None = None) -> list[Message]:
        """Inside a write: queue one message per draft. Every message enters the outbox here (the API, the doors,
        batches, one-time codes, the box's own replies), so every one is queued the same way. Messages counted
        against `account` are refused together past its quota (QuotaExceeded), counted in this transaction.

        The API's hot path, so Core bulk inserts; the returned messages hold the values being committed."""
        if account is not None:
            parts, cost = sum(len(d.parts) for d in drafts), sum(d.cost or 0.0 for d in drafts)
            quota.check(account.name, account.quota, use_of(conn, account.id, now, lock=True), parts, cost, now)
            count_use(conn, account.id, now, parts, cost)
        account_id = None if account is None else account.id
        rows = [_message_row(d, now, api_key_id, account_id) for d in drafts]
        id_of: dict[str, int] = {row.uid: row.id for row in conn.execute(_ADD_MESSAGES, rows)}
        ids = [id_of[row["uid"]] for row in rows]
        conn.execute(_ADD_PARTS, [
            {"message_id": message_id, "seq": seq, "text": text, "state": PartState.PENDING,
             "masked_text": draft.masked_parts[seq - 1] if draft.masked_parts else None}
            for message_id, draft in zip(ids, drafts) for seq, text in enumerate(draft.parts, start=1)])
        conn.execute(_ADD_EVENTS, [
            {"message_id": message_id, "part_seq": None, "state": row["state"].value, "modem": None,
             "detail": draft.note, "at": now} for message_id, row, draft in zip(ids, rows, drafts)])
        self._db.notify_outbox(conn)
        configure_mappers()  # as the models' constructors do (`_detached` does without them)
        return [_queued_message(message_id, row, draft.parts) for message_id, row, draft in zip(ids, rows, drafts)]

    def get_message(self, uid: str) -> Message:
        with self._db.read() as s:
            message = s.scalars(
                select(Message).where(Message.uid == uid)
                .options(selectinload(Message.parts), selectinload(Message.events))
            ).one_or_none()
        if message is None:
            raise MessageNotFound(f"no message {uid}", field="id")
        return message

    def list_messages(self, *, state: MessageState | None = None, to_number: str | None = None,
                      modem: str | None = None, since: datetime | None = None, batch_uid: str | None = None,
                      account_id: int | None = None, before_id: int | None = None, limit: int = 50) -> list[Message]:
        """Newest first; `before_id` is the cursor (the id of the last message of the previous page);
        `account_id`: only that account's."""
        query = select(Message).options(selectinload(Message.parts)).order_by(Message.id.desc()).limit(limit)
        if account_id is not None:
            query = query.where(Message.account_id == account_id)
        if state is not None:
            query = query.where(Message.state == state)
        if to_number is not None:
            query = query.where(Message.to_number == to_number)
        if modem is not None:
            query = query.where(Message.modem == modem)
        if since is not None:
            query = query.where(Message.created_at >= since)
        if batch_uid is not None:
            query = query.join(BatchMessage, BatchMessage.message_id == Message.id).join(Batch).where(
                Batch.uid == batch_uid)
        if before_id is not None:
            query = query.where(Message.id < before_id)
        with self._db.read() as s:
            return list(s.scalars(query))

    def cancel(self, uid: str, now: datetime) -> Message:
        with self._db.write() as s:
            message = s.scalars(select(Message).where(Message.uid == uid)).one_or_none()
            if message is None:
                raise MessageNotFound(f"no message {uid}", field="id")
            if message.state not in CANCELLABLE:
                raise ConflictError(f"message {uid} is {message.state.value}; only queued or scheduled "
                                    "messages can be cancelled")
            transition(s, self._events, message, MessageState.CANCELLED, now)
        return self.get_message(uid)

    def retry(self, uid: str, now: datetime) -> Message:
        """Queue a failed or unknown message again, by a person's decision: its parts not known to have
        left go out again (an `unknown` part may reach the phone twice: that is what the caller accepts).
        One stranded on a gone modem (`modem_gone`) goes out whole, from any modem, as a new concatenation:
        the parts that left cannot be joined to parts from another number."""
        with self._db.write() as s:
            message = s.scalars(select(Message).where(Message.uid == uid)
                                .options(selectinload(Message.parts))).one_or_none()
            if message is None:
                raise MessageNotFound(f"no message {uid}", field="id")
            if message.state not in RETRYABLE:
                raise ConflictError(f"message {uid} is {message.state.value}; only failed or unknown "
                                    "messages can be retried")
            if s.scalar(select(exists().where(OtpCode.message_uid == uid))):
                raise ConflictError(f"message {uid} carried a one-time code, which is no longer kept; "
                                    "ask for a new code")
            whole = message.error_code == "modem_gone"
            for part in message.parts:
                if whole or part.state in (PartState.FAILED, PartState.UNKNOWN):
                    part.state, part.error_code = PartState.PENDING, None
                    part.modem = part.reference = part.submitted_at = part.sent_at = None
            if whole:
                message.pinned_modem, message.concat_ref = None, secrets.randbelow(256)
            message.attempts, message.next_attempt_at, message.avoid_modem = 0, now, None
            message.error_code = message.error_message = None
            transition(s, self._events, message, MessageState.QUEUED, now, detail="retried by request")
            self._db.notify_outbox(s.connection())
        return self.get_message(uid)

    def claim_next(self, modem: str, now: datetime, lease_s: float, avoid_grace_s: float = AVOID_GRACE_S,
                   group: str = DEFAULT_GROUP, cheaper_groups: Sequence[str] = (),
                   submitting: bool = False, pinned_only: bool = False,
                   limits: ClaimLimits = UNLIMITED) -> SendJob | None:
        """Atomically take the next due message for `modem` of routing `group` (state SENDING, leased to it), within
        `limits` (an upstream's).

        With `submitting`, its first part still to send is also marked SUBMITTING in the claim's transaction,
        as `mark_part_submitting` does (durable too): the caller writes that part to the modem next, one
        commit sooner (from here on a crash leaves it `unknown`, never re-sent).

        A message that a modem of `cheaper_groups` (cheaper ones, ready to claim) may send is left to them for
        COST_GRACE_S. A marketing message whose recipient is now in quiet hours goes back to `scheduled` until
        they end, with its history row, in the same transaction: it is never sent in them (unless a part of
        it has left: the phone joins the rest only from the same modem, soon)."""
        with self._db.write_core(durable=submitting) as conn:
            return self._claim(conn, modem, now, lease_s, avoid_grace_s, group, cheaper_groups, submitting,
                               pinned_only, limits)

    def _claim(self, conn: Connection, modem: str, now: datetime, lease_s: float, avoid_grace_s: float, group: str,
               cheaper_groups: Sequence[str], submitting: bool, pinned_only: bool = False,
               limits: ClaimLimits = UNLIMITED) -> SendJob | None:
        """`claim_next` inside the transaction of `conn` (`pinned_only`: messages pinned to `modem` only)."""
        params = {"p_modem": modem, "p_now": now, "p_group": group,
                  "p_avoided_due": now - timedelta(seconds=avoid_grace_s),
                  "p_cost_due": now - timedelta(seconds=COST_GRACE_S) if cheaper_groups else now,
                  "p_cheaper_groups": list(cheaper_groups), "p_lease_until": now + timedelta(seconds=lease_s),
                  "p_due": now - timedelta(seconds=limits.due_after_s), "p_max_priority": limits.max_priority,
                  "p_urgent_due": now - timedelta(seconds=max(limits.due_after_s, limits.urgent_after_s))}
        statement = _CLAIM_PINNED if pinned_only else _CLAIM_LIMITED if limits.is_limited else _CLAIM
        history: list[dict[str, Any]] = []
        row = None
        for _ in range(QUIET_HOLDS_PER_CLAIM):
            row = conn.execute(statement, params).one_or_none()
            if row is None:
                break
            parts = conn.execute(_PARTS_OF, {"p_message_id": row.id}).all()
            until = quiet_until(row.to_number, row.quiet_hours, now)
            if until is None or any(p.state != PartState.PENDING for p in parts):  # one begun is finished
                break
            conn.execute(_HOLD_QUIET, {"p_message_id": row.id, "p_until": until, "p_now": now})
            history.append({"message_id": row.id, "part_seq": None, "state": MessageState.SCHEDULED.value,
                            "modem": None, "at": now,
                            "detail": f"quiet hours where the recipient lives: held until {until.isoformat()}"})
            row = None  # put back; after QUIET_HOLDS_PER_CLAIM the worker claims again at once (they were due)
        if row is not None:
            history.append({"message_id": row.id, "part_seq": None, "state": MessageState.SENDING.value,
                            "modem": modem, "detail": None, "at": now})
            first_seq = min(p.seq for p in parts if p.state == PartState.PENDING)
            if submitting:
                conn.execute(_MARK_SUBMITTING, {"p_message_id": row.id, "p_seq": first_seq, "p_modem": modem,
                                                "p_now": now})
        if history:
            conn.execute(_ADD_EVENTS, history)
        if row is None:
            return None
        return SendJob(
            message_id=row.id, uid=row.uid, to_number=row.to_number, encoding=row.encoding,
            concat_ref=row.concat_ref, delivery_report=row.delivery_report, attempt=row.attempts,
            parts=tuple(p.text for p in parts), first_seq=first_seq, status_callback=row.status_callback,
            priority=row.priority,
        )

    def mark_part_submitting(self, job: SendJob, seq: int, modem: str, now: datetime,
                             lease_until: datetime | None = None) -> None:
        """Commit that part `seq` is about to be written to the modem: after a crash it is `unknown`.

        ClaimLost when the message is no longer this modem's claim: another box settled it (this one was declared
        dead while it was paused or cut off), so the part must not be written (the fence of a stale box).

        `lease_until` renews the claim's lease for this part (a long multi-part message stays claimed). The
        commit is durable (fsynced on SQLite whatever `synchronous` says): a power cut must not undo it once
        the part is on its way, or the part would be sent again."""
        params = {"p_message_id": job.message_id, "p_seq": seq, "p_modem": modem, "p_now": now,
                  "p_lease_until": lease_until}
        with self._db.write_core(durable=True) as conn:
            self._mark_held(conn, job, seq, modem, now)
            if lease_until is not None:
                conn.execute(_RENEW_LEASE, params)

    def hand_over(self, ahead: SendJob, modem: str, now: datetime, answered: SentPart | None, lease_s: float, *,
                  overtake: bool = False, group: str = DEFAULT_GROUP, cheaper_groups: Sequence[str] = (),
                  pinned_only: bool = False) -> SendJob:
        """The message `modem` writes next, its first part marked `submitting` (as `mark_part_submitting` does):
        `ahead`, which it claimed while it sent the part before; or, with `overtake` (work came meanwhile), a message
        more urgent than `ahead` that it may take, claimed in `ahead`'s place (`ahead` given back). ClaimLost when
        `ahead` is no longer its claim and none overtook it.

        The same durable commit notes `answered`, the part the modem took just before, whose record is still to
        come: a crash before that record leaves it sent, not unknown (see `_release`)."""
        with self._db.write_core(durable=True) as conn:
            if answered is not None:
                _note_answer(conn, answered)
            if overtake and ahead.priority > min(PRIORITIES.values()):
                urgent = self._claim(conn, modem, now, lease_s, AVOID_GRACE_S, group, cheaper_groups, True,
                                     pinned_only, ClaimLimits(max_priority=ahead.priority - 1))
                if urgent is not None:
                    self._give_back(conn, ahead, modem, now, "claim given back: a more urgent message came")
                    return urgent
            self._mark_held(conn, ahead, ahead.first_seq, modem, now)
            return ahead

    @staticmethod
    def _mark_held(conn: Connection, job: SendJob, seq: int, modem: str, now: datetime) -> None:
        """Mark part `seq` of `job` `submitting` while the message is still `modem`'s claim (its row locked), else
        ClaimLost: another box settled it (this one was declared dead while it was paused or cut off)."""
        params = {"p_message_id": job.message_id, "p_seq": seq, "p_modem": modem, "p_now": now}
        if not conn.execute(_MARK_SUBMITTING_HELD, params).rowcount:
            state = conn.execute(_STATE_OF, params).scalar()
            raise ClaimLost(f"message {job.uid} is no longer claimed by {modem} ({state or 'gone'}): its claim "
                            "was settled while this box was away")

    def record_part_sent(self, job: SendJob, seq: int, modem: str, reference: int, now: datetime) -> MessageState:
        """The modem took part `seq` (+CMGS: reference); the message is SENT with its last part.

        Parts go out in order, so part `len(job.parts)` is the last one. Every part pins the message to
        `modem`: later parts must leave from the same number, or the phone cannot join them."""
        with self._db.write_core() as conn:
            return self._record_sent(conn, job, seq, modem, reference, now)

    def record_sent_claim_next(self, sent: SentPart, modem: str, now: datetime, lease_s: float, *,
                               group: str = DEFAULT_GROUP, cheaper_groups: Sequence[str] = (),
                               pinned_only: bool = False) -> SendJob | None:
        """`record_part_sent` for `sent` (its message's last part), then `claim_next` for `modem` at `now`, in one
        transaction: a busy modem's one commit per message, made while the modem sends its next part. The claimed
        message has no part marked: `mark_part_submitting` does that before it is written (or `give_back` returns
        it)."""
        if sent.seq != len(sent.job.parts):
            raise ValueError(f"part {sent.seq} of {len(sent.job.parts)} is not the last: no claim while it is sent")
        with self._db.write_core() as conn:
            self._record_sent(conn, sent.job, sent.seq, modem, sent.reference, sent.sent_at)
            return self._claim(conn, modem, now, lease_s, AVOID_GRACE_S, group, cheaper_groups, False, pinned_only)

    def give_back(self, job: SendJob, modem: str, now: datetime) -> None:
        """Put a message `modem` claimed but wrote nothing of back in the queue, its claim's attempt not counted
        (the worker claimed it ahead, then stopped its run of sends: a stop, a notice, the database away). A part
        marked `submitting` for it goes back to pending: the caller knows it was never written."""
        with self._db.write_core() as conn:
            self._give_back(conn, job, modem, now, "claim given back: the modem stopped before sending it")

    def _give_back(self, conn: Connection, job: SendJob, modem: str, now: datetime, detail: str) -> None:
        params = {"p_message_id": job.message_id, "p_modem": modem, "p_now": now}
        if not conn.execute(_GIVE_BACK, params).rowcount:
            return  # settled by another box meanwhile (this one was declared dead): not ours to give back
        conn.execute(_UNMARK_SUBMITTING, params)
        conn.execute(_ADD_EVENTS, [{"message_id": job.message_id, "part_seq": None, "state": MessageState.QUEUED.value,
                                    "modem": modem, "at": now, "detail": detail}])
        self._db.notify_outbox(conn)

    def record_sent_whole(self, job: SendJob, upstream: str, provider_id: str | None, now: datetime) -> None:
        """An upstream provider took the whole message (every part at once; `provider_id` its id for it, when it
        gave one): every part and the message are SENT, in one durable transaction."""
        detail = f"accepted by upstream {upstream}" + (f" as {provider_id}" if provider_id else "")
        with self._db.write_core(durable=True) as conn:
            for seq in range(1, len(job.parts) + 1):
                self._record_sent(conn, job, seq, upstream, None, now, detail=detail)

    def _record_sent(self, conn: Connection, job: SendJob, seq: int, modem: str, reference: int | None,
                     now: datetime, *, detail: str | None = None) -> MessageState:
        """`record_part_sent` inside the transaction of `conn` (`reference` None: an upstream's, with `detail`)."""
        is_last = seq == len(job.parts)
        params = {"p_message_id": job.message_id, "p_seq": seq, "p_modem": modem, "p_reference": reference,
                  "p_now": now}
        events = [{"message_id": job.message_id, "part_seq": seq, "state": PartState.SENT.value, "modem": modem,
                   "detail": detail if reference is None else f"mr={reference}", "at": now}]
        if is_last:
            events.append({"message_id": job.message_id, "part_seq": None, "state": MessageState.SENT.value,
                           "modem": modem, "detail": None, "at": now})
        conn.execute(_MARK_PART_SENT, params)
        conn.execute(_MARK_MESSAGE_SENT if is_last else _PIN_MESSAGE, params)
        conn.execute(_ADD_EVENTS, events)
        if is_last:
            conn.execute(_COUNT_SENT, params)
            self._events.emit(conn, "message.sent", job.uid, lambda: message_resource(conn, job.message_id),
                              job.status_callback, now)
        if job.delivery_report and reference is not None:  # a part sent without asking for a report gets none
            apply_early_reports(conn, self._events, job.message_id, job.to_number, seq, modem, reference, now)
        return MessageState.SENT if is_last else MessageState.SENDING

    def record_temporary_failure(self, job: SendJob, seq: int, modem: str, error_code: str, detail: str,
                                 retry_at: datetime, max_attempts: int, now: datetime) -> MessageState:
        """Part `seq` was refused for now: requeue the message (or fail it after `max_attempts`)."""
        with self._db.write() as s:
            message = s.get_one(Message, job.message_id, options=[selectinload(Message.parts)])
            part = message.parts[seq - 1]
            part.state, part.error_code = PartState.PENDING, error_code
            message.error_code, message.error_message = error_code, detail
            if message.attempts >= max_attempts:
                fail_remaining(message, error_code)
                transition(s, self._events, message, MessageState.FAILED, now, modem=modem,
                           detail=f"{error_code} after {message.attempts} attempts: {detail}")
                s.execute(update(Modem).where(Modem.name == modem).values(failed_count=Modem.failed_count + 1))
            else:
                if message.pinned_modem is None:
                    message.avoid_modem = modem
                message.modem, message.lease_until, message.next_attempt_at = None, None, retry_at
                transition(s, self._events, message, MessageState.QUEUED, now, modem=modem,
                           detail=f"retry at {retry_at.isoformat()}: {error_code} {detail}")
            return message.state

    def record_modem_fault(self, job: SendJob, seq: int, modem: str, error_code: str, detail: str,
                           now: datetime) -> None:
        """Part `seq` was refused because of the modem, its SIM or its network: requeue the message now (for
        another modem, unless earlier parts pin it to this one), its claim's attempt given back."""
        with self._db.write() as s:
            message = s.get_one(Message, job.message_id, options=[selectinload(Message.parts)])
            message.parts[seq - 1].state = PartState.PENDING
            message.attempts = max(message.attempts - 1, 0)
            if message.pinned_modem is None:
                message.avoid_modem = modem
            message.modem, message.lease_until, message.next_attempt_at = None, None, now
            transition(s, self._events, message, MessageState.QUEUED, now, modem=modem,
                       detail=f"modem fault, attempt not counted: {error_code} {detail}")

    def record_permanent_failure(self, job: SendJob, seq: int, modem: str, error_code: str, detail: str,
                                 now: datetime) -> None:
        with self._db.write() as s:
            message = s.get_one(Message, job.message_id, options=[selectinload(Message.parts)])
            message.error_code, message.error_message, message.lease_until = error_code, detail, None
            fail_remaining(message, error_code)
            transition(s, self._events, message, MessageState.FAILED, now, modem=modem,
                       detail=f"{error_code}: {detail}")
            s.execute(update(Modem).where(Modem.name == modem).values(failed_count=Modem.failed_count + 1))

    def record_unknown(self, job: SendJob, seq: int, modem: str, detail: str, now: datetime) -> None:
        """Part `seq` went to the modem and no answer came: it is not re-sent, and neither is the rest."""
        with self._db.write() as s:
            message = s.get_one(Message, job.message_id, options=[selectinload(Message.parts)])
            mark_unknown(s, self._events, message, [message.parts[seq - 1]], detail, now)

    def release_claims(self, now: datetime, modem: str | None = None,
                       modems: Sequence[str] | None = None) -> tuple[int, int]:
        """Return claimed work to the queue after a worker or the process stopped: the claims of `modem`,
        or of `modems` (a box's own, at its start: other boxes' claims are theirs), or every claim.

        A part left SUBMITTING may have reached the modem: it and its message become UNKNOWN. A message
        claimed but with no part in flight goes back to QUEUED (pinned to its modem if parts already left).
        Returns (requeued, unknown).
        """
        query = select(Message).where(Message.state == MessageState.SENDING)
        if modem is not None:
            query = query.where(Message.modem == modem)
        if modems is not None:
            query = query.where(Message.modem.in_(list(modems)))
        return self._release(query, now, "process stopped while the modem had the part", "claim released")

    def release_expired(self, now: datetime) -> tuple[int, int, int]:
        """Return the claims whose lease passed (their box died, or lost the database) to the queue, the
        same way as `release_claims`; and webhook deliveries whose lease passed are due again.
        Returns (requeued, unknown, deliveries)."""
        query = select(Message).where(Message.state == MessageState.SENDING, Message.lease_until < now)
        requeued, unknown = self._release(query, now, "lease expired while the modem had the part",
                                          "lease expired: claim released")
        return requeued, unknown, self._events.release_deliveries(now)

    def _release(self, query: Select[Message], now: datetime, unknown_detail: str,
                 requeued_detail: str) -> tuple[int, int]:
        requeued = unknown = 0
        with self._db.write() as s:
            for message in s.scalars(query.options(selectinload(Message.parts)).with_for_update(skip_locked=True)):
                self._record_answered(s, message)
                if message.state != MessageState.SENDING:
                    continue  # its last part was answered: it is sent (or already delivered, by an early report)
                in_flight = [p for p in message.parts if p.state == PartState.SUBMITTING]
                if in_flight:
                    mark_unknown(s, self._events, message, in_flight, unknown_detail, now)
                    unknown += 1
                else:
                    message.modem, message.lease_until, message.next_attempt_at = None, None, now
                    transition(s, self._events, message, MessageState.QUEUED, now, detail=requeued_detail)
                    requeued += 1
            if requeued:
                self._db.notify_outbox(s.connection())
        return requeued, unknown

    def _record_answered(self, s: Session, message: Message) -> None:
        """Record as sent the parts of `message` that the modem answered but whose record a stop cut short (their
        reference noted, still `submitting`: `hand_over`); `message` is refreshed."""
        answered = [p for p in message.parts if p.state == PartState.SUBMITTING and p.reference is not None]
        if not answered:
            return
        job = SendJob(message_id=message.id, uid=message.uid, to_number=message.to_number,
                      encoding=cast(Encoding, message.encoding),
                      concat_ref=message.concat_ref, delivery_report=message.delivery_report,
                      attempt=message.attempts, parts=tuple(p.text for p in message.parts),
                      first_seq=answered[0].seq, status_callback=message.status_callback, priority=message.priority)
        for part in answered:
            assert part.modem is not None and part.reference is not None and part.sent_at is not None
            self._record_sent(s.connection(), job, part.seq, part.modem, part.reference, part.sent_at)
        s.refresh(message)
        s.refresh(message, ["parts"])

    def fail_over(self, now: datetime) -> int:
        """Queued messages whose route group has no modem online (nor connecting: a box starting up does not
        reroute its queue) move to their rule's fallback group when one of its modems is online (each once,
        with a history row; not one pinned to a modem). One UPDATE: two boxes never move one message twice.
        Returns how many moved."""
        with self._db.write_core() as conn:
            moved = conn.execute(_FAIL_OVER, {"p_now": now}).all()
            if moved:
                conn.execute(_ADD_EVENTS, [
                    {"message_id": row.id, "part_seq": None, "state": MessageState.QUEUED.value, "modem": None,
                     "detail": f"failover: no modem of its route group online; fallback group {row.route_group}",
                     "at": now} for row in moved])
                self._db.notify_outbox(conn)
        return len(moved)

    def next_due_at(self, modem: str, now: datetime, avoid_grace_s: float = AVOID_GRACE_S,
                    group: str = DEFAULT_GROUP, limits: ClaimLimits = UNLIMITED) -> datetime | None:
        """When the earliest queued message `modem` could claim (within `limits`) becomes due (for the worker's
        wait)."""
        high = PRIORITIES["high"]
        due = self._earliest(modem, group, now, avoid_grace_s, high, limits.max_priority)
        if due is not None:
            due += timedelta(seconds=max(limits.due_after_s, limits.urgent_after_s))
        if limits.urgent_after_s > 0 and limits.max_priority > high:  # the others are due sooner
            other = self._earliest(modem, group, now, avoid_grace_s, high + 1, limits.max_priority)
            if other is not None:
                due = min(due or other, other + timedelta(seconds=limits.due_after_s))
        return due

    def _earliest(self, modem: str, group: str, now: datetime, avoid_grace_s: float, min_priority: int,
                  max_priority: int) -> datetime | None:
        params = {"p_modem": modem, "p_group": group, "p_now": now, "p_min_priority": min_priority,
                  "p_max_priority": max_priority}
        with self._db.read_core() as conn:
            free = conn.execute(_EARLIEST_FREE, params).scalar()
            avoided = conn.execute(_EARLIEST_AVOIDED, params).scalar()
        if avoided is not None:
            avoided += timedelta(seconds=avoid_grace_s)
        return min((t for t in (free, avoided) if t is not None), default=None)

    def last_inbound_modems(self, numbers: Sequence[str]) -> dict[str, str]:
        """The modem each of `numbers` last wrote to us on (a reply goes out on it: gateway.rules.routing)."""
        found: dict[str, str] = {}
        with self._db.read_core() as conn:
            for start in range(0, len(numbers), 500):
                found.update(conn.execute(_LAST_INBOUND, {"p_numbers": list(numbers[start:start + 500])}).all())
        return found

    def next_scheduled_at(self) -> datetime | None:
        """When the earliest scheduled message falls due (a worker wakes then to release it)."""
        with self._db.read_core() as conn:
            return conn.execute(_EARLIEST_SCHEDULED).scalar()

    def release_due(self, now: datetime) -> tuple[int, int]:
        """Queue the scheduled messages whose time came, and expire the waiting ones whose validity passed
        (`message.expired` events). Returns (released, expired)."""
        with self._db.write_core() as conn:
            ids: Sequence[int] = conn.execute(_DUE_SCHEDULED, {"p_now": now}).scalars().all()
            if ids:
                conn.execute(_RELEASE_SCHEDULED, {"p_ids": list(ids), "p_now": now})
                conn.execute(_ADD_EVENTS, [{"message_id": i, "part_seq": None, "state": MessageState.QUEUED.value,
                                            "modem": None, "detail": "send_at reached", "at": now} for i in ids])
                self._db.notify_outbox(conn)
        expired = 0
        with self._db.write() as s:
            for message in s.scalars(select(Message).where(
                    Message.state.in_(CANCELLABLE), Message.expires_at <= now).with_for_update(skip_locked=True)):
                message.error_code, message.error_message = "expired", "validity passed before it could be sent"
                transition(s, self._events, message, MessageState.EXPIRED, now, detail="validity passed")
                expired += 1
        return len(ids), expired

    def fail_stranded(self, now: datetime, wait_s: float) -> int:
        """Fail the multi-part messages stranded on a modem: a part left on it (so the rest must too, or the
        phone cannot join them) and it has sent nothing more for `wait_s` although the rest was due (it is
        gone, or it stays offline). The message is `failed` with `modem_gone` and a `message.failed` event;
        the client may retry it whole. Returns how many failed."""
        last_sent = select(func.max(Part.sent_at)).where(Part.message_id == Message.id).scalar_subquery()
        stranded = select(Message).where(
            Message.state == MessageState.QUEUED, Message.pinned_modem.is_not(None),
            Message.next_attempt_at <= now, last_sent <= now - timedelta(seconds=wait_s),
        ).with_for_update(skip_locked=True)
        failed = 0
        with self._db.write() as s:
            for message in s.scalars(stranded):
                sent = sum(p.sent_at is not None for p in message.parts)
                detail = (f"{sent} of {message.part_count} parts left on modem {message.pinned_modem}, which has "
                          f"not sent the rest for {wait_s:.0f} s")
                message.error_code, message.error_message = "modem_gone", detail
                fail_remaining(message, "modem_gone")
                transition(s, self._events, message, MessageState.FAILED, now, modem=message.pinned_modem,
                           detail=detail)
                failed += 1
        return failed

    def count_by_state(self) -> dict[str, int]:
        with self._db.read() as s:
            rows = s.execute(select(Message.state, func.count()).group_by(Message.state)).all()
        return {state.value: count for state, count in rows}

    def mark_reports_overdue(self, sent_before: datetime) -> int:
        """Flag sent messages whose delivery report has not come by now (they stay `sent`)."""
        with self._db.write_core() as conn:
            return changed(conn.execute(update(_messages).where(
                _messages.c.state == MessageState.SENT, _messages.c.delivery_report.is_(True),
                _messages.c.report_overdue.is_(False), _messages.c.sent_at < sent_before,
            ).values(report_overdue=True)))


_Model = TypeVar("_Model", bound=Base)


def _note_answer(conn: Connection, answered: SentPart) -> None:
    """Note the modem's answer to a part (reference, time) whose record is still to come: still `submitting`, but
    recovery records it sent (`Outbox._record_answered`)."""
    conn.execute(_NOTE_ANSWER, {"p_message_id": answered.job.message_id, "p_seq": answered.seq,
                                "p_reference": answered.reference, "p_now": answered.sent_at})


def _message_row(draft: MessageDraft, now: datetime, api_key_id: int | None,
                 account_id: int | None) -> dict[str, Any]:
    """The messages row that queues `draft` (scheduled when it is held until later)."""
    return {"uid": new_uid("msg"), "to_number": draft.to_number, "body": draft.body, "encoding": draft.encoding,
            "part_count": len(draft.parts), "concat_ref": secrets.randbelow(256),
            "state": MessageState.SCHEDULED if draft.send_at and draft.send_at > now else MessageState.QUEUED,
            "priority": draft.priority, "delivery_report": draft.delivery_report, "attempts": 0,
            "next_attempt_at": max(draft.send_at or now, now), "api_key_id": api_key_id, "created_at": now,
            "updated_at": now, "pinned_modem": draft.via_modem, "status_callback": draft.status_callback,
            "route_group": draft.route_group, "fallback_group": draft.fallback_group,
            "quiet_hours": draft.quiet_hours, "expires_at": draft.expires_at, "account_id": account_id,
            "cost": draft.cost}


def _queued_message(message_id: int, row: dict[str, Any], parts: Sequence[str]) -> Message:
    """The message just committed from `row`, with its pending parts and first history row, for the API's answer."""
    return _detached(Message, id=message_id, report_overdue=False, body_purged=False, **row,
                     parts=[_detached(Part, message_id=message_id, seq=seq, text=text, state=PartState.PENDING)
                            for seq, text in enumerate(parts, start=1)],
                     events=[_detached(MessageEvent, message_id=message_id, state=row["state"].value,
                                       at=row["created_at"])])


def _detached(model: type[_Model], **values: Any) -> _Model:
    """An instance of `model` holding `values`, built the way a load builds one: without the change events of
    the constructor (a third of an enqueue's time). Nothing flushes it: its rows are committed."""
    instance: _Model = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(values)
    return instance




