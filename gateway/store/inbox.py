"""Inbound messages: idempotent recording of what modems stored, reassembly of concatenated parts.

Receiving is one transaction composed of the areas it touches: the inbox row, the sender's consent (a STOP
or START keyword), the confirmation the outbox queues, the modem's count, the `message.received` event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from sqlalchemy import Integer, Select, case, cast, func, literal, null, select, union_all, update
from sqlalchemy.orm import Session, selectinload

from gateway.representations import inbox_json
from gateway.store.consent import Consent
from gateway.store.database import Database, changed, new_uid
from gateway.store.events import Events
from gateway.store.models import InboundPart, InboxMessage, Message, MessageEvent, Modem, QuarantinedSms, Thread
from gateway.store.outbox import Outbox
from gateway.values import InboxState, MessageState, ReceivedSms


class Inbox:
    """Verbs on received messages."""

    def __init__(self, db: Database, events: Events, consent: Consent, outbox: Outbox,
                 digest: Callable[[str], str]) -> None:
        self._db, self._events, self._consent, self._outbox = db, events, consent, outbox
        self._digest = digest

    def record_received(self, modem: str, sms: ReceivedSms, now: datetime,
                        reply_since: datetime | None = None) -> InboxMessage | None:
        """Commit one stored SMS (idempotent: the same SMS read twice is kept once).

        Returns the inbox message when this SMS completed one (or, a part late after its message was flushed
        incomplete, updated it), None while parts are still missing. A message is a reply to the last message
        we sent its sender after `reply_since`.
        """
        dedup = _dedup_key(self._digest, modem, sms)
        with self._db.write() as s:
            if sms.concat is None or sms.concat.total <= 1:
                if s.scalar(select(InboxMessage.id).where(InboxMessage.dedup_key == dedup)) is not None:
                    return None
                return self._add_inbox(s, InboxMessage(
                    uid=new_uid("in"), modem=modem, sender=sms.sender, text=sms.text, part_count=1,
                    state=InboxState.COMPLETE, sent_at=sms.sent_at, received_at=now, dedup_key=dedup), reply_since)
            if s.scalar(select(InboundPart.id).where(InboundPart.dedup_key == dedup)) is not None:
                return None
            part = InboundPart(modem=modem, sender=sms.sender, concat_ref=sms.concat.reference,
                               total=sms.concat.total, seq=sms.concat.sequence, text=sms.text, sent_at=sms.sent_at,
                               received_at=now, dedup_key=dedup)
            s.add(part)
            s.flush()
            group = list(s.scalars(_group_of(modem, sms.sender, sms.concat.reference, sms.concat.total)
                                   .where(InboundPart.inbox_id.is_(None))))
            if len(group) == 1 and (late := self._flushed_without(s, part, now)) is not None:
                return self._complete_late(s, late, part, now)  # nothing waits with it: a late part
            by_seq = {p.seq: p for p in group}
            if len(by_seq) < sms.concat.total:
                return None
            ordered = [by_seq[i] for i in sorted(by_seq)]
            return self._add_inbox(s, InboxMessage(
                uid=new_uid("in"), modem=modem, sender=sms.sender, text=_joined(ordered, sms.concat.total),
                part_count=len(ordered), parts_expected=sms.concat.total, state=InboxState.COMPLETE,
                sent_at=ordered[0].sent_at, received_at=now,
                dedup_key=_group_key(self._digest, modem, sms.sender, ordered[0].id)), reply_since, ordered)

    def _flushed_without(self, s: Session, part: InboundPart, now: datetime) -> InboxMessage | None:
        """The incomplete inbox message, flushed lately, that this part is missing from (None when the part
        starts or joins a group still waiting: concatenation references are reused, so an older message, or
        one that already has this part, is another message)."""
        flushed = s.scalars(
            select(InboxMessage).join(InboundPart, InboundPart.inbox_id == InboxMessage.id)
            .where(InboundPart.modem == part.modem, InboundPart.sender == part.sender,
                   InboundPart.concat_ref == part.concat_ref, InboundPart.total == part.total,
                   InboxMessage.state == InboxState.INCOMPLETE,
                   InboxMessage.received_at >= now - LATE_PART_WINDOW)
            .order_by(InboxMessage.id.desc()).limit(1)).one_or_none()
        if flushed is None:
            return None
        seqs = s.scalars(select(InboundPart.seq).where(InboundPart.inbox_id == flushed.id))
        return None if part.seq in set(seqs) else flushed

    def _complete_late(self, s: Session, inbox: InboxMessage, part: InboundPart, now: datetime) -> InboxMessage:
        """Put a late part into the incomplete message it belongs to; `message.updated` tells receivers."""
        part.inbox_id = inbox.id
        parts = list(s.scalars(select(InboundPart).where(InboundPart.inbox_id == inbox.id)
                               .order_by(InboundPart.seq, InboundPart.id)))
        inbox.text = _joined(parts, part.total)
        inbox.part_count = len(parts)
        if len({p.seq for p in parts}) == part.total:
            inbox.state = InboxState.COMPLETE
        s.flush()
        resource = inbox_json(inbox)
        self._events.emit(s.connection(), "message.updated", inbox.uid, lambda: resource, None, now)
        return inbox

    def waiting_parts(self) -> list[PartGroup]:
        """Multi-part SMS still waiting for parts, oldest first: what came, and what is missing."""
        with self._db.read() as s:
            parts = list(s.scalars(select(InboundPart).where(InboundPart.inbox_id.is_(None))
                                   .order_by(InboundPart.received_at, InboundPart.id)))
        groups: dict[tuple[str, str, int, int], list[InboundPart]] = {}
        for part in parts:
            groups.setdefault((part.modem, part.sender, part.concat_ref, part.total), []).append(part)
        return [PartGroup(modem=modem, sender=sender, reference=ref, total=total,
                          received=tuple(sorted({p.seq for p in group})), first_received_at=group[0].received_at,
                          last_received_at=max(p.received_at for p in group))
                for (modem, sender, ref, total), group in groups.items()]

    def _add_inbox(self, s: Session, inbox: InboxMessage, reply_since: datetime | None,
                   parts: Sequence[InboundPart] = ()) -> InboxMessage:
        """Add a complete (or given-up) inbox message: note the receiving SIM's number, link its parts and the
        message it answers, count it on its modem, and queue `message.received`."""
        inbox.recipient = s.scalar(select(Modem.own_number).where(Modem.name == inbox.modem))
        inbox.in_reply_to = None
        if reply_since is not None:
            inbox.in_reply_to = s.scalars(
                select(Message).where(Message.to_number == inbox.sender, Message.sent_at >= reply_since,
                                      Message.state.in_([MessageState.SENT, MessageState.DELIVERED]))
                .order_by(Message.sent_at.desc()).limit(1)
            ).one_or_none()
        s.add(inbox)
        s.flush()
        for part in parts:
            part.inbox_id = inbox.id
        reply = self._consent.apply_keyword(s, inbox)
        if reply is not None:
            self._outbox.insert(s.connection(), [reply], inbox.received_at)
        s.execute(update(Modem).where(Modem.name == inbox.modem).values(received_count=Modem.received_count + 1))
        resource = inbox_json(inbox)
        self._events.emit(s.connection(), "message.received", inbox.uid, lambda: resource, None, inbox.received_at)
        return inbox

    def flush_incomplete(self, older_than: datetime, now: datetime, reply_since: datetime | None = None) -> int:
        """Turn part groups still missing parts after the reassembly timeout into INCOMPLETE inbox messages, each
        missing part marked in the text where it belongs."""
        group_cols = (InboundPart.modem, InboundPart.sender, InboundPart.concat_ref, InboundPart.total)
        flushed = 0
        with self._db.write() as s:
            stale = s.execute(select(*group_cols).where(InboundPart.inbox_id.is_(None))
                              .group_by(*group_cols).having(func.max(InboundPart.received_at) < older_than)).all()
            for modem, sender, ref, total in stale:
                parts = list(s.scalars(_group_of(modem, sender, ref, total).where(InboundPart.inbox_id.is_(None))))
                self._add_inbox(s, InboxMessage(
                    uid=new_uid("in"), modem=modem, sender=sender, text=_joined(parts, total),
                    part_count=len(parts), parts_expected=total, state=InboxState.INCOMPLETE,
                    sent_at=parts[0].sent_at, received_at=now,
                    dedup_key=_group_key(self._digest, modem, sender, parts[0].id)), reply_since, parts)
                flushed += 1
        return flushed

    def conversation(self, number: str, *, limit: int = 100) -> list[Message | InboxMessage]:
        """The last `limit` messages to and from `number`, both directions, oldest first."""
        with self._db.read() as s:
            outbound = list(s.scalars(select(Message).where(Message.to_number == number)
                                      .options(selectinload(Message.parts))
                                      .order_by(Message.id.desc()).limit(limit)))
            inbound = list(s.scalars(select(InboxMessage).where(InboxMessage.sender == number)
                                     .order_by(InboxMessage.id.desc()).limit(limit)))
        merged: list[Message | InboxMessage] = [*outbound, *inbound]
        merged = sorted(merged, key=lambda m: m.created_at if isinstance(m, Message) else m.received_at)
        return merged[-limit:]

    def threads(self, limit: int = 50, numbers: Sequence[str] | None = None) -> list[Thread]:
        """The numbers the box has exchanged SMS with (only `numbers`, when given), the latest exchange first, each
        with its count of unread received SMS and its latest message."""
        with self._db.read() as s:
            if numbers is None:
                numbers = _latest_parties(s, limit)
            inbound = select(InboxMessage.sender.label("number"), func.max(InboxMessage.received_at).label("at"),
                             func.sum(case((InboxMessage.read_at.is_(None), 1), else_=0)).label("unread"),
                             func.max(InboxMessage.id).label("inbox_id"), cast(null(), Integer).label("message_id"))
            outbound = select(Message.to_number.label("number"), func.max(Message.created_at).label("at"),
                              literal(0, Integer).label("unread"), cast(null(), Integer).label("inbox_id"),
                              func.max(Message.id).label("message_id")).where(Message.to_number != "")
            inbound = inbound.where(InboxMessage.sender.in_(numbers))
            outbound = outbound.where(Message.to_number.in_(numbers))
            both = union_all(inbound.group_by(InboxMessage.sender), outbound.group_by(Message.to_number)).subquery()
            latest = func.max(both.c.at)
            rows: Sequence[Any] = s.execute(
                select(both.c.number, latest, func.sum(both.c.unread), func.max(both.c.inbox_id),
                       func.max(both.c.message_id)).group_by(both.c.number).order_by(latest.desc()).limit(limit)).all()
            received = {m.id: m for m in s.scalars(select(InboxMessage).where(
                InboxMessage.id.in_([r[3] for r in rows if r[3] is not None])))}
            sent = {m.id: m for m in s.scalars(select(Message).where(
                Message.id.in_([r[4] for r in rows if r[4] is not None])))}
        threads = []
        for number, at, unread, inbox_id, message_id in rows:
            last: list[Message | InboxMessage] = [m for m in (received.get(inbox_id), sent.get(message_id)) if m]
            newest = max(last, key=lambda m: m.received_at if isinstance(m, InboxMessage) else m.created_at)
            threads.append(Thread(number, _aware(at), int(unread or 0), newest))
        return threads

    def mark_read(self, number: str, now: datetime) -> int:
        """Every SMS received from `number` is read now; how many were not."""
        with self._db.write() as s:
            return changed(s.execute(update(InboxMessage).where(InboxMessage.sender == number,
                                                                InboxMessage.read_at.is_(None)).values(read_at=now)))

    def mark_reply(self, message_uid: str, inbox_uid: str) -> None:
        """Note on queued message `message_uid`'s history that it answers received SMS `inbox_uid`."""
        with self._db.write() as s:
            message_id = select(Message.id).where(Message.uid == message_uid).scalar_subquery()
            s.execute(update(MessageEvent).where(MessageEvent.message_id == message_id,
                                                 MessageEvent.state == MessageState.QUEUED.value,
                                                 MessageEvent.part_seq.is_(None), MessageEvent.detail.is_(None))
                      .values(detail=f"reply to {inbox_uid}"))

    def quarantine(self, modem: str, memory: str, slot: int, pdu_hex: str, reason: str,
                   now: datetime) -> QuarantinedSms | None:
        """Keep a stored SMS the box cannot decode or store, raw (idempotent like `record_received`: the same PDU
        read twice is kept once). Returns the new row, None when it was already kept."""
        dedup = self._digest(f"{modem}\x00quarantine\x00{pdu_hex.upper()}")
        with self._db.write() as s:
            if s.scalar(select(QuarantinedSms.id).where(QuarantinedSms.dedup_key == dedup)) is not None:
                return None
            row = QuarantinedSms(uid=new_uid("qs"), modem=modem, memory=memory, slot=slot,
                                 pdu=pdu_hex.replace("\x00", ""), reason=reason[:1000], received_at=now,
                                 dedup_key=dedup)
            s.add(row)
        return row

    def list_quarantine(self, *, before_id: int | None = None, limit: int = 50) -> list[QuarantinedSms]:
        query = select(QuarantinedSms).order_by(QuarantinedSms.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(QuarantinedSms.id < before_id)
        with self._db.read() as s:
            return list(s.scalars(query))

    def list_inbox(self, *, before_id: int | None = None, limit: int = 50) -> list[InboxMessage]:
        query = select(InboxMessage).order_by(InboxMessage.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(InboxMessage.id < before_id)
        with self._db.read() as s:
            return list(s.scalars(query))


@dataclass(frozen=True)
class PartGroup:
    """A multi-part SMS waiting for its other parts."""

    modem: str
    sender: str
    reference: int
    total: int
    received: tuple[int, ...]  # part numbers, 1-based
    first_received_at: datetime
    last_received_at: datetime  # the reassembly timeout counts from here


LATE_PART_WINDOW = timedelta(days=1)  # a part this late after its message was flushed is still put into it


def _group_of(modem: str, sender: str, reference: int, total: int) -> Select[InboundPart]:
    return (select(InboundPart).where(InboundPart.modem == modem, InboundPart.sender == sender,
                                      InboundPart.concat_ref == reference, InboundPart.total == total)
            .order_by(InboundPart.seq, InboundPart.id))


def _joined(parts: Sequence[InboundPart], total: int) -> str:
    """The parts' texts in order, each missing part marked where it belongs: `[part 2 of 3 missing]`."""
    by_seq = {p.seq: p.text for p in parts}
    return "".join(by_seq.get(seq, f"[part {seq} of {total} missing]") for seq in range(1, total + 1))


def _dedup_key(digest: Callable[[str], str], modem: str, sms: ReceivedSms) -> str:
    """Identifies one stored SMS across re-reads: the same PDU on the same modem (keyed: a PDU holds the
    sender's number and the text)."""
    return digest(f"{modem}\x00{sms.pdu_hex.upper()}")


def _group_key(digest: Callable[[str], str], modem: str, sender: str, first_part_id: int) -> str:
    """Identifies the inbox message made of a group of parts (keyed: it holds the sender's number)."""
    return digest(f"{modem}\x00group\x00{sender}\x00{first_part_id}")


def _latest_parties(s: Session, limit: int) -> list[str]:
    """The `limit` numbers with the latest exchanges, from the newest rows of the outbox and the inbox only (ids
    follow time within each): the window grows until the last number chosen is newer than everything left out,
    so a long history costs no more than a short one."""
    window = 4 * limit
    while True:
        sent = s.execute(select(Message.to_number, Message.created_at).where(Message.to_number != "")
                         .order_by(Message.id.desc()).limit(window)).all()
        received = s.execute(select(InboxMessage.sender, InboxMessage.received_at)
                             .order_by(InboxMessage.id.desc()).limit(window)).all()
        latest: dict[str, datetime] = {}
        for party, at in [*sent, *received]:
            latest[party] = max(latest.get(party, at), at)
        chosen = sorted(latest, key=lambda party: latest[party], reverse=True)[:limit]
        complete = [rows for rows in (sent, received) if len(rows) == window]  # these may have older rows left
        if not complete or (len(chosen) == limit and all(latest[chosen[-1]] >= rows[-1][1] for rows in complete)):
            return chosen
        window *= 4


def _aware(value: datetime | str) -> datetime:
    """A time out of an aggregate over a union (its column type is not always carried through): UTC-aware."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
