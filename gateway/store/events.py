"""The event outbox: events written in the transaction of the state change that causes them, one
delivery per receiver (webhooks subscribed to the type, the message's status_callback), and the
delivery worker's claims and records.

Deliveries of one subject (message) to one receiver are claimed strictly in order: a delivery waits
while an earlier one of the same subject and receiver is pending or in flight.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any, Callable, Collection, Sequence

from sqlalchemy import Select, bindparam, exists, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gateway.errors import ConflictError, NotFound
from gateway.representations import time_json
from gateway.store.database import Database, changed, new_uid
from gateway.store.models import Delivery, DeliveryAttempt, Event, Modem, Webhook, table
from gateway.values import TEST_EVENT, DeliveryJob, DeliveryState

_webhooks, _events, _deliveries = table(Webhook), table(Event), table(Delivery)
_earlier = _deliveries.alias("earlier")
_WEBHOOKS_LIVE = select(_webhooks.c.id, _webhooks.c.url, _webhooks.c.events).where(_webhooks.c.deleted_at.is_(None))
_ADD_EVENT = insert(_events).returning(_events.c.id)
_ADD_DELIVERIES = insert(_deliveries)
_CONFIG_RECEIVERS_LOCK = 0x736D73677721  # PostgreSQL advisory lock: one box at a time syncs config receivers
_SET_PAYLOAD = update(_events).where(_events.c.id == bindparam("p_id")).values(payload=bindparam("p_payload"))
_IN_ORDER_DUE = (
    select(_deliveries.c.id)
    .where(
        _deliveries.c.state == DeliveryState.PENDING,
        _deliveries.c.next_attempt_at <= bindparam("p_now"),
        ~exists().where(_earlier.c.target == _deliveries.c.target, _earlier.c.subject == _deliveries.c.subject,
                        _earlier.c.id < _deliveries.c.id,
                        _earlier.c.state.in_([DeliveryState.PENDING, DeliveryState.IN_FLIGHT])),
    )
    .order_by(_deliveries.c.id)
    .limit(bindparam("p_limit"))
    .with_for_update(skip_locked=True)  # PostgreSQL: two boxes' dispatchers never wait on each other's claims
)
_CLAIM = (
    update(_deliveries)
    .where(_deliveries.c.id.in_(_IN_ORDER_DUE.scalar_subquery()), _deliveries.c.state == DeliveryState.PENDING)
    .values(state=DeliveryState.IN_FLIGHT, lease_until=bindparam("p_lease_until"))
    .returning(_deliveries.c.id)
)
_JOBS = (
    select(_deliveries.c.id, _deliveries.c.uid, _deliveries.c.url, _deliveries.c.attempts,
           _deliveries.c.webhook_id, _events.c.uid.label("event_uid"), _events.c.type, _events.c.payload,
           _events.c.created_at, _webhooks.c.secret)
    .join(_events, _events.c.id == _deliveries.c.event_id)
    .outerjoin(_webhooks, _webhooks.c.id == _deliveries.c.webhook_id)
    .where(_deliveries.c.id.in_(bindparam("p_ids", expanding=True)))
    .order_by(_deliveries.c.id)
)


def empty_event_texts(s: Session, subjects: Sequence[str] | Select[str]) -> None:
    """Inside a write: empty the text (`body` of a message, `text` of a received SMS) in the stored payloads of
    the events about `subjects` (uids, or a select of them), keeping the rest of each payload."""
    changed = []
    for event_id, payload in s.execute(select(_events.c.id, _events.c.payload).where(_events.c.subject.in_(subjects))):
        event = json.loads(str(payload))
        data = event.get("data") or {}
        texts = [key for key in ("body", "text") if data.get(key)]
        if not texts:
            continue
        data.update(dict.fromkeys(texts, ""))
        if "body_purged" in data:
            data["body_purged"] = True
        changed.append({"p_id": event_id, "p_payload": _dump(event)})
    if changed:
        s.execute(_SET_PAYLOAD, changed)


def _retire_webhook(s: Session, webhook_id: int, now: datetime) -> None:
    s.execute(update(Webhook).where(Webhook.id == webhook_id).values(deleted_at=now))
    s.execute(update(Delivery).where(Delivery.webhook_id == webhook_id, Delivery.state == DeliveryState.PENDING)
              .values(state=DeliveryState.FAILED, last_error="webhook deleted"))


def _other_boxes(s: Session, box: str) -> bool:
    """Whether another box runs modems on this database."""
    return s.scalar(select(Modem.name).where(Modem.box.is_not(None), Modem.box != box).limit(1)) is not None


def _callback_target(url: str) -> tuple[None, str, str]:
    """(webhook id, url, target key) of a receiver that is no webhook: a status callback, a rule's target."""
    return None, url, "callback:" + hashlib.sha256(url.encode()).hexdigest()[:40]


def _dump(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


class Events:
    """Events and their deliveries to webhooks and status callbacks; the webhooks themselves."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._observers: list[tuple[frozenset[str], Callable[[str, dict[str, Any]], None]]] = []

    def observe(self, event_types: Collection[str], observer: Callable[[str, dict[str, Any]], None]) -> None:
        """Call `observer(type, data)` in this process, after the commit, for each event of `event_types` (inbound
        rules, the MQTT bridge). An event nobody observes or receives costs no resource read."""
        self._observers.append((frozenset(event_types), observer))

    # --- writing events (inside other areas' write transactions) ---------------------------------

    def emit(self, conn: Connection, event_type: str, subject: str, resource: Callable[[], dict[str, Any]],
              status_callback: str | None, now: datetime) -> None:
        """Queue `event_type` about `subject` for every receiver that wants it, and for the in-process observers
        of it. `resource` is called only when someone does: the payload is the resource as it is in this
        transaction."""
        targets = [(row.id, row.url, f"webhook:{row.id}") for row in conn.execute(_WEBHOOKS_LIVE)
                   if event_type in row.events.split(",")]
        if status_callback:
            targets.append(_callback_target(status_callback))
        observers = [observer for types, observer in self._observers if event_type in types]
        if not targets and not observers:
            return
        data = resource()
        for observer in observers:
            self._db.after_commit(functools.partial(observer, event_type, data))
        if targets:
            self._queue(conn, event_type, subject, data, targets, now)

    def emit_to(self, conn: Connection, event_type: str, subject: str, data: dict[str, Any], url: str,
                now: datetime) -> None:
        """Queue `event_type` about `subject` for the one receiver `url` (an inbound rule's webhook or mail
        address), signed like a status callback; no webhook or observer sees it again."""
        self._queue(conn, event_type, subject, data, [_callback_target(url)], now)

    def _queue(self, conn: Connection, event_type: str, subject: str, data: dict[str, Any],
               targets: list[tuple[int | None, str, str]], now: datetime) -> list[str]:
        """Add the event and a delivery of it to each of `targets`; the deliveries' ids."""
        event_uid = new_uid("evt")
        payload = _dump({"id": event_uid, "type": event_type, "created_at": time_json(now), "data": data})
        event_id: int = conn.execute(_ADD_EVENT, {"uid": event_uid, "type": event_type, "subject": subject,
                                             "payload": payload, "created_at": now}).scalar_one()
        deliveries = [
            {"uid": new_uid("dlv"), "event_id": event_id, "webhook_id": webhook_id, "target": target,
             "subject": subject, "url": url, "state": DeliveryState.PENDING, "attempts": 0,
             "next_attempt_at": now, "lease_until": None, "last_status": None, "last_error": None,
             "created_at": now, "delivered_at": None}
            for webhook_id, url, target in targets
        ]
        conn.execute(_ADD_DELIVERIES, deliveries)
        self._db.mark_deliveries_queued()
        return [str(d["uid"]) for d in deliveries]

    # --- the delivery worker -----------------------------------------------------------------------

    def claim_deliveries(self, now: datetime, limit: int, lease_s: float) -> list[DeliveryJob]:
        """Take up to `limit` due deliveries, never two of one subject to one receiver."""
        if limit <= 0:
            return []
        with self._db.write_core() as conn:
            ids: Sequence[int] = conn.execute(_CLAIM, {"p_now": now, "p_limit": limit,
                                        "p_lease_until": now + timedelta(seconds=lease_s)}).scalars().all()
            if not ids:
                return []
            rows = conn.execute(_JOBS, {"p_ids": list(ids)}).all()
        return [DeliveryJob(delivery_id=r.id, uid=r.uid, url=r.url, attempt=r.attempts + 1, event_uid=r.event_uid,
                            event_type=r.type, body=r.payload.encode(), event_created_at=r.created_at,
                            secret=r.secret) for r in rows]

    def record_attempt(self, job: DeliveryJob, now: datetime, *, status_code: int | None, error: str | None,
                       duration_ms: float, outcome: DeliveryState, retry_at: datetime | None = None) -> None:
        """What one POST came to: DELIVERED, FAILED (final), or PENDING again at `retry_at`."""
        values: dict[str, Any] = {"state": outcome, "attempts": job.attempt, "lease_until": None,
                                  "last_status": status_code, "last_error": error}
        if outcome == DeliveryState.DELIVERED:
            values["delivered_at"] = now
        if outcome == DeliveryState.PENDING:
            values["next_attempt_at"] = retry_at
        with self._db.write_core() as conn:
            conn.execute(update(_deliveries).where(_deliveries.c.id == job.delivery_id).values(**values))
            conn.execute(insert(table(DeliveryAttempt)), {
                "delivery_id": job.delivery_id, "at": now, "status_code": status_code, "error": error,
                "duration_ms": duration_ms})

    def postpone_deliveries(self, delivery_ids: Sequence[int], until: datetime) -> None:
        """Claimed deliveries the worker will not attempt now: due again at `until`, no attempt counted."""
        if not delivery_ids:
            return
        with self._db.write_core() as conn:
            conn.execute(update(_deliveries).where(_deliveries.c.id.in_(delivery_ids),
                                                   _deliveries.c.state == DeliveryState.IN_FLIGHT)
                         .values(state=DeliveryState.PENDING, lease_until=None, next_attempt_at=until))

    def release_deliveries(self, now: datetime, *, at_start: bool = False) -> int:
        """Deliveries left in flight are due again (their receivers may see them twice): those whose lease
        passed before `now`; `at_start` on SQLite (one box, so nobody else is posting) all of them."""
        query = update(_deliveries).where(_deliveries.c.state == DeliveryState.IN_FLIGHT)
        if not (at_start and self._db.is_sqlite):
            query = query.where(_deliveries.c.lease_until < now)
        with self._db.write_core() as conn:
            released = changed(conn.execute(query.values(state=DeliveryState.PENDING, lease_until=None)))
            if released:
                self._db.mark_deliveries_queued()  # wake the webhook worker at commit
        return released

    def next_delivery_due(self) -> datetime | None:
        with self._db.read_core() as conn:
            return conn.execute(select(func.min(_deliveries.c.next_attempt_at))
                                .where(_deliveries.c.state == DeliveryState.PENDING)).scalar()

    # --- webhooks ----------------------------------------------------------------------------------

    def add_webhook(self, url: str, events: Sequence[str], now: datetime) -> Webhook:
        webhook = Webhook(uid=new_uid("wh"), url=url, events=",".join(events),
                          secret="whsec_" + secrets.token_urlsafe(32), created_at=now)
        with self._db.write() as s:
            s.add(webhook)
        return webhook

    def list_webhooks(self) -> list[Webhook]:
        with self._db.read() as s:
            return list(s.scalars(select(Webhook).where(Webhook.deleted_at.is_(None)).order_by(Webhook.id)))

    def get_webhook(self, uid: str) -> Webhook:
        with self._db.read() as s:
            webhook = s.scalars(select(Webhook).where(Webhook.uid == uid, Webhook.deleted_at.is_(None))).one_or_none()
        if webhook is None:
            raise NotFound(f"no webhook {uid}", field="id")
        return webhook

    def delete_webhook(self, uid: str, now: datetime) -> None:
        """Stop sending to it: it is kept (for its delivery history) but its pending deliveries fail."""
        webhook = self.get_webhook(uid)
        with self._db.write() as s:
            _retire_webhook(s, webhook.id, now)

    def sync_config_receivers(self, box: str, targets: Sequence[str], is_config_target: Callable[[str], bool],
                              now: datetime) -> list[Webhook]:
        """Make `targets` the receivers of received SMS that box `box`'s config names, leaving other boxes'
        alone: a receiver is shared by the boxes naming it and deleted when none does. Receivers made by a
        config before the boxes were recorded are adopted when named; unnamed, they are deleted when no other
        box has modems here, else kept and returned (whose they are is unknown)."""
        wanted = list(dict.fromkeys(targets))
        unclaimed = []
        with self._db.write() as s:
            if not self._db.is_sqlite:
                s.execute(select(func.pg_advisory_xact_lock(_CONFIG_RECEIVERS_LOCK)))
            live = s.scalars(select(Webhook).where(Webhook.deleted_at.is_(None)).order_by(Webhook.id)).all()
            for webhook in live:
                if webhook.config_boxes is None and not is_config_target(webhook.url):
                    continue  # made by an API
                boxes = set(json.loads(webhook.config_boxes or "[]")) - {box}
                if webhook.url in wanted:
                    wanted.remove(webhook.url)
                    boxes.add(box)
                elif webhook.config_boxes is None and _other_boxes(s, box):
                    unclaimed.append(webhook)
                    continue
                if boxes:
                    webhook.config_boxes = json.dumps(sorted(boxes))
                else:
                    _retire_webhook(s, webhook.id, now)
            for target in wanted:
                s.add(Webhook(uid=new_uid("wh"), url=target, events="message.received",
                              secret="whsec_" + secrets.token_urlsafe(32), created_at=now,
                              config_boxes=json.dumps([box])))
        return unclaimed

    def list_deliveries(self, webhook_uid: str, *, limit: int = 50) -> list[Delivery]:
        webhook = self.get_webhook(webhook_uid)
        with self._db.read() as s:
            return list(s.scalars(select(Delivery).where(Delivery.webhook_id == webhook.id)
                                  .order_by(Delivery.id.desc()).limit(limit)))

    def deliveries_about(self, subject: str) -> list[tuple[Delivery, str]]:
        """Every delivery of an event about `subject` (a message's or a received SMS's id), with its event type,
        oldest first."""
        with self._db.read() as s:
            rows = s.execute(select(Delivery, Event.type).join(Event, Delivery.event_id == Event.id)
                             .where(Event.subject == subject).order_by(Delivery.id))
            return [(delivery, event_type) for delivery, event_type in rows]

    def list_attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[DeliveryAttempt]]:
        with self._db.read() as s:
            attempts = s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(delivery_ids))
                                 .order_by(DeliveryAttempt.id))
            grouped: dict[int, list[DeliveryAttempt]] = {i: [] for i in delivery_ids}
            for attempt in attempts:
                grouped[attempt.delivery_id].append(attempt)
        return grouped

    def event_types_of(self, deliveries: Sequence[Delivery]) -> dict[int, tuple[str, str]]:
        """(event id, type) of each delivery, for listing them."""
        with self._db.read() as s:
            rows = s.execute(select(Event.id, Event.uid, Event.type)
                             .where(Event.id.in_({d.event_id for d in deliveries}))).all()
        return {row.id: (row.uid, row.type) for row in rows}

    def send_test(self, webhook_uid: str, now: datetime) -> str:
        """Queue a `webhook.test` event for the one webhook (whatever events it takes), signed and retried as any
        other: its receiver's owner sees that it arrives and verifies. Returns the delivery's id."""
        webhook = self.get_webhook(webhook_uid)
        data = {"webhook_id": webhook.uid, "text": "a test event from smsgw: this webhook is reachable"}
        with self._db.write_core() as conn:
            [delivery] = self._queue(conn, TEST_EVENT, webhook.uid, data,
                                     [(webhook.id, webhook.url, f"webhook:{webhook.id}")], now)
        return delivery

    def redeliver(self, webhook_uid: str, delivery_uid: str, now: datetime) -> Delivery:
        """Send a delivery again now, by hand (whatever became of it before)."""
        webhook = self.get_webhook(webhook_uid)
        with self._db.write() as s:
            delivery = s.scalars(select(Delivery).where(Delivery.uid == delivery_uid,
                                                        Delivery.webhook_id == webhook.id)).one_or_none()
            if delivery is None:
                raise NotFound(f"no delivery {delivery_uid} for webhook {webhook_uid}", field="delivery_id")
            if delivery.state == DeliveryState.IN_FLIGHT:
                raise ConflictError(f"delivery {delivery_uid} is being sent right now")
            delivery.state, delivery.next_attempt_at, delivery.lease_until = DeliveryState.PENDING, now, None
            self._db.mark_deliveries_queued()
        return delivery
