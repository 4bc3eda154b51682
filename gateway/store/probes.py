"""Canary probes (gateway/core/canary.py decides when to send and how late is too late)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from gateway.representations import modem_json
from gateway.store.database import Database
from gateway.store.events import Events
from gateway.store.models import Modem, Probe


class Probes:
    def __init__(self, db: Database, events: Events) -> None:
        self._db, self._events = db, events

    def waiting_from(self, modem: str) -> Probe | None:
        with self._db.read() as s:
            return s.scalars(select(Probe).where(Probe.from_modem == modem, Probe.state == "waiting")).first()

    def add(self, token: str, from_modem: str, to_modem: str, now: datetime) -> None:
        """A probe about to be queued: committed first, so its arrival is known however soon it comes."""
        with self._db.write() as s:
            s.add(Probe(token=token, from_modem=from_modem, to_modem=to_modem, message_uid="", sent_at=now,
                        state="waiting"))

    def queued(self, token: str, message_uid: str) -> None:
        """The probe `token` went into the outbox as message `message_uid`."""
        with self._db.write() as s:
            s.execute(update(Probe).where(Probe.token == token).values(message_uid=message_uid))

    def forget(self, token: str) -> None:
        """The probe `token` could not be queued: it is not waited for."""
        with self._db.write() as s:
            s.execute(delete(Probe).where(Probe.token == token))

    def arrived(self, token: str, at_modem: str, now: datetime) -> Probe | None:
        """The probe `token` reached `at_modem`: arrived, and its sender is no longer degraded. None when no probe
        has that token (an ordinary SMS that looks like one)."""
        with self._db.write() as s:
            probe = s.scalars(select(Probe).where(Probe.token == token)).one_or_none()
            if probe is None:
                return None
            probe.state, probe.arrived_at = "arrived", now
            sender = s.get(Modem, probe.from_modem)
            if sender is not None:
                sender.degraded_since = None
        return probe

    def judge_late(self, sent_before: datetime, now: datetime) -> list[Probe]:
        """Probes still waiting that were sent before `sent_before`: late, their senders degraded (each once, with
        a `modem.degraded` event)."""
        with self._db.write() as s:
            late = list(s.scalars(select(Probe).where(Probe.state == "waiting", Probe.sent_at < sent_before)
                                  .with_for_update(skip_locked=True)))
            for probe in late:
                probe.state = "late"
                sender = s.get(Modem, probe.from_modem)
                if sender is not None and sender.degraded_since is None:
                    sender.degraded_since = now
                    s.flush()
                    resource = modem_json(sender)
                    self._events.emit(s.connection(), "modem.degraded", sender.name, lambda: resource, None, now)
        return late
