"""Read-only figures for the status page, /metrics and /healthz: counts, time series and durations.

Every figure is computed in the database at the time it is asked for, so it is right after a restart and
across processes (the CLI, several boxes on one PostgreSQL). The history rows (`message_events`, one per
committed transition of a whole message: `part_seq IS NULL`) are the source of "what happened when".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import Integer, and_, case, cast, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from gateway.errors import NotFound
from gateway.store.database import Database
from gateway.rules.adaptive import Fate, Outcome
from gateway.store.models import InboxMessage, Message, MessageEvent, Modem, Part, QuarantinedSms, table
from gateway.values import MessageState, ModemState, PartState

UP_STATES = (ModemState.ONLINE, ModemState.SENDING)
PENDING_STATES = (MessageState.SCHEDULED, MessageState.QUEUED, MessageState.SENDING)
REACHED_NETWORK = (MessageState.SENT, MessageState.DELIVERED)
DID_NOT = (MessageState.FAILED, MessageState.EXPIRED, MessageState.UNKNOWN)
SERIES_STATES = (MessageState.SENT.value, MessageState.DELIVERED.value, MessageState.FAILED.value)


@dataclass(frozen=True)
class ModemDay:
    """A modem's row plus what it did since local midnight."""

    modem: Modem
    sent_today: int
    failed_today: int

    @property
    def is_up(self) -> bool:
        return self.modem.state in UP_STATES


@dataclass(frozen=True)
class QueueFigures:
    queued: int
    scheduled: int
    sending: int
    failed_last_hour: int
    oldest_queued_age_s: float | None


@dataclass(frozen=True)
class Series:
    """Counts per bucket: `starts[i]` is the UTC epoch second bucket i begins at."""

    width_s: int
    starts: tuple[int, ...]
    counts: dict[str, tuple[int, ...]]  # sent, delivered, failed (and received for the day series)


@dataclass(frozen=True)
class DeliveryFigures:
    """Over a window: how many messages finished, how many of them reached the network, how fast."""

    finished: int
    reached_network: int
    median_send_s: float | None  # queued -> accepted by the network (+CMGS), the gateway's own latency

    @property
    def rate(self) -> float | None:
        return self.reached_network / self.finished if self.finished else None


@dataclass(frozen=True)
class DurationHistogram:
    """Cumulative counts `le[i]` of durations <= bounds[i], plus the total count and sum (Prometheus shape)."""

    bounds: tuple[float, ...]
    le: tuple[int, ...]
    count: int
    total_s: float


class Stats:
    """The read queries behind the dashboard, the metrics collector and the health check."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- health --------------------------------------------------------------------------------

    def modems_up(self) -> list[str]:
        """Names of the modems that are online (or sending). StoreUnavailable when the database does not answer."""
        with self._db.read_core() as conn:
            return list(conn.execute(select(Modem.name).where(Modem.state.in_(UP_STATES))
                                     .order_by(Modem.name)).scalars())

    # --- dashboard -----------------------------------------------------------------------------

    def modem_days(self, now: datetime) -> list[ModemDay]:
        midnight = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        per_modem = self._transitions_since(midnight, group_by_modem=True)
        with self._db.read() as s:
            modems = list(s.scalars(select(Modem).order_by(Modem.name)))
        return [ModemDay(m, per_modem.get((MessageState.SENT.value, m.name), 0),
                         per_modem.get((MessageState.FAILED.value, m.name), 0)) for m in modems]

    def queue(self, now: datetime) -> QueueFigures:
        with self._db.read_core() as conn:
            counts = dict(conn.execute(select(Message.state, func.count()).where(Message.state.in_(PENDING_STATES))
                                       .group_by(Message.state)).all())
            oldest = conn.execute(select(func.min(Message.created_at))
                                  .where(Message.state == MessageState.QUEUED)).scalar()
        failed = self._transitions_since(now - timedelta(hours=1)).get(MessageState.FAILED.value, 0)
        return QueueFigures(queued=counts.get(MessageState.QUEUED, 0), scheduled=counts.get(MessageState.SCHEDULED, 0),
                            sending=counts.get(MessageState.SENDING, 0), failed_last_hour=failed,
                            oldest_queued_age_s=max(0.0, (now - oldest).total_seconds()) if oldest else None)

    def series(self, now: datetime, *, width_s: int, buckets: int, with_received: bool = False) -> Series:
        """Sent, delivered and failed messages (and received ones) per bucket, the last bucket holding `now`."""
        end = int(now.timestamp()) // width_s * width_s + width_s
        start = end - width_s * buckets
        since = datetime.fromtimestamp(start, now.tzinfo)
        counts = {name: [0] * buckets for name in (*SERIES_STATES, *(("received",) if with_received else ()))}
        bucket = self._bucket(MessageEvent.at, start, width_s)
        with self._db.read_core() as conn:
            rows: list[Any] = [tuple(row) for row in conn.execute(
                select(MessageEvent.state, bucket, func.count())
                .where(MessageEvent.at >= since, MessageEvent.part_seq.is_(None),
                       MessageEvent.state.in_(SERIES_STATES))
                .group_by(MessageEvent.state, bucket))]
            if with_received:
                received = self._bucket(InboxMessage.received_at, start, width_s)
                rows += [("received", b, n) for b, n in conn.execute(
                    select(received, func.count()).where(InboxMessage.received_at >= since).group_by(received))]
        for name, index, n in rows:
            if 0 <= int(index) < buckets:
                counts[name][int(index)] += n
        return Series(width_s, tuple(range(start, end, width_s)), {k: tuple(v) for k, v in counts.items()})

    def delivery(self, now: datetime, window: timedelta = timedelta(hours=24)) -> DeliveryFigures:
        """Messages that finished in the window: the share that reached the network, and the median time
        from queued to accepted by the network of those sent in the window."""
        since = now - window
        with self._db.read_core() as conn:
            outcome = dict(conn.execute(
                select(Message.state, func.count())
                .where(Message.updated_at >= since, Message.state.in_(REACHED_NETWORK + DID_NOT))
                .group_by(Message.state)).all())
            duration = self._epoch(Message.sent_at) - self._epoch(Message.created_at)
            sent_in_window = and_(Message.sent_at.is_not(None), Message.sent_at >= since)
            n = conn.execute(select(func.count()).where(sent_in_window)).scalar() or 0
            median = None
            if n:
                middle: Sequence[float] = conn.execute(select(duration).where(sent_in_window).order_by(duration)
                                      .limit(2 - n % 2).offset((n - 1) // 2)).scalars().all()
                median = max(0.0, sum(middle) / len(middle))
        reached = sum(outcome.get(s, 0) for s in REACHED_NETWORK)
        return DeliveryFigures(finished=reached + sum(outcome.get(s, 0) for s in DID_NOT), reached_network=reached,
                               median_send_s=median)

    def inbox_message(self, uid: str) -> InboxMessage:
        with self._db.read() as s:
            item = s.scalars(select(InboxMessage).where(InboxMessage.uid == uid)).one_or_none()
        if item is None:
            raise NotFound(f"no received message {uid}", field="id")
        return item

    # --- metrics -------------------------------------------------------------------------------

    def transitions(self) -> dict[tuple[str, str], int]:
        """How many times messages entered each state, per modem ("" where no modem was involved)."""
        return self._transitions_since(None, group_by_modem=True)

    def queue_depth(self) -> dict[str, int]:
        with self._db.read_core() as conn:
            counts = dict(conn.execute(select(Message.state, func.count()).where(Message.state.in_(PENDING_STATES))
                                       .group_by(Message.state)).all())
        return {state.value: counts.get(state, 0) for state in PENDING_STATES}

    def modems(self) -> list[Modem]:
        with self._db.read() as s:
            return list(s.scalars(select(Modem).order_by(Modem.name)))

    def quarantined(self) -> int:
        """Received SMS kept raw because they could not be decoded or stored."""
        with self._db.read_core() as conn:
            return conn.execute(select(func.count()).select_from(QuarantinedSms)).scalar_one()

    def submit_to_sent(self, bounds: Sequence[float]) -> DurationHistogram:
        """Queued -> accepted by the network, over every sent message."""
        duration = self._epoch(Message.sent_at) - self._epoch(Message.created_at)
        return self._histogram(duration, Message.sent_at.is_not(None), bounds, from_=table(Message))

    def sent_to_delivered(self, bounds: Sequence[float]) -> DurationHistogram:
        """Accepted by the network -> the delivery report that completed the message."""
        duration = self._epoch(MessageEvent.at) - self._epoch(Message.sent_at)
        joined = table(MessageEvent).join(table(Message), MessageEvent.message_id == Message.id)
        where = and_(MessageEvent.state == MessageState.DELIVERED.value, MessageEvent.part_seq.is_(None),
                     Message.sent_at.is_not(None))
        return self._histogram(duration, where, bounds, from_=joined)

    # --- helpers -------------------------------------------------------------------------------

    def _transitions_since(self, since: datetime | None, *, group_by_modem: bool = False) -> dict[Any, int]:
        columns = [MessageEvent.state] + ([func.coalesce(MessageEvent.modem, "")] if group_by_modem else [])
        query = select(*columns, func.count()).where(MessageEvent.part_seq.is_(None)).group_by(*columns)
        if since is not None:
            query = query.where(MessageEvent.at >= since)
        with self._db.read_core() as conn:
            rows: Sequence[Any] = conn.execute(query).all()
        if group_by_modem:
            return {(row[0], row[1]): row[2] for row in rows}
        return {row[0]: row[1] for row in rows}

    def _histogram(self, duration: ColumnElement[Any], where: ColumnElement[bool], bounds: Sequence[float], *,
                   from_: FromClause) -> DurationHistogram:
        clamped = case((duration < 0, 0.0), else_=duration)
        columns = [func.count(), func.coalesce(func.sum(clamped), 0.0)]
        columns += [func.coalesce(func.sum(case((clamped <= b, 1), else_=0)), 0) for b in bounds]
        with self._db.read_core() as conn:
            row = conn.execute(select(*columns).select_from(from_).where(where)).one()
        return DurationHistogram(tuple(bounds), tuple(int(v) for v in row[2:]), int(row[0]), float(row[1]))

    def _epoch(self, column: ColumnElement[Any] | InstrumentedAttribute[Any]) -> ColumnElement[Any]:
        """Seconds since the epoch of a UTC datetime column, on SQLite (stored as text) and PostgreSQL."""
        if self._db.is_sqlite:
            return (func.julianday(column) - 2440587.5) * 86400.0
        return func.extract("epoch", column)

    def _bucket(self, column: ColumnElement[Any] | InstrumentedAttribute[Any], start_epoch: int,
                width_s: int) -> ColumnElement[Any]:
        offset = self._epoch(column) - start_epoch
        if self._db.is_sqlite:  # the column is >= start, so truncation is floor
            return cast(offset / width_s, Integer)
        return cast(func.floor(offset / width_s), Integer)


OUTCOME_SCAN_PER_TARGET = 100  # parts looked at per part judged: a target sending 1 % of the box's traffic counts

def outcomes(db: Database, since: datetime, per_target: int) -> list[Outcome]:
    """The last `per_target` reported parts of each target (modem or upstream) sent since `since`, newest first:
    delivered, failed, or overdue (no report within `report_wait_s`); parts still waiting for one are left out.
    Only the newest OUTCOME_SCAN_PER_TARGET × `per_target` parts of the box are looked at, so a busy box's
    figures cost the same as a quiet one's (a target that sent none of them has no figures)."""
    newest = select(func.max(Part.id)).scalar_subquery()
    ranked = (
        select(Part.modem, Message.to_number, Part.state, Part.submitted_at, Part.sent_at, Part.delivered_at,
               func.row_number().over(partition_by=Part.modem, order_by=Part.id.desc()).label("rank"))
        .join(Message, Message.id == Part.message_id)
        .where(Part.id > newest - OUTCOME_SCAN_PER_TARGET * per_target,
               Part.modem.is_not(None), Message.delivery_report.is_(True), Part.sent_at >= since,
               or_(Part.state.in_([PartState.DELIVERED, PartState.FAILED]),
                   and_(Part.state == PartState.SENT, Message.report_overdue.is_(True))))
        .subquery())
    with db.read() as s:
        rows = s.execute(select(ranked).where(ranked.c.rank <= per_target)
                         .order_by(ranked.c.modem, ranked.c.rank)).all()
    return [Outcome(row.modem, row.to_number, _FATES.get(row.state, "overdue"),
                    _seconds(row.submitted_at, row.sent_at), _seconds(row.sent_at, row.delivered_at)) for row in rows]


_FATES: dict[PartState, Fate] = {PartState.DELIVERED: "delivered", PartState.FAILED: "failed"}


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    """From `start` to `end`, never negative: a report's time is the SMS centre's, to the second."""
    return max(0.0, (end - start).total_seconds()) if start is not None and end is not None else None
