"""The boxes sharing one database, and their heartbeats.

Each box takes its name at start (`register`: refused while another live box holds it), says it is alive every
few seconds (`beat`), and looks for boxes that stopped saying so (`settle_dead`): the first live box to see one
marks it dead and settles what it held: its claims (a part in a modem's hands becomes `unknown`, never re-sent;
a message with nothing in flight goes back to the queue for any box) and its modems (offline). Claim leases stay
the backstop. A box whose heartbeat finds itself declared dead takes its name again before it goes on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from gateway.errors import BoxNameTaken
from gateway.store.database import Database, changed
from gateway.store.models import BoxRecord, Modem
from gateway.store.outbox import Outbox
from gateway.values import ModemState

log = logging.getLogger(__name__)

ALIVE, DEAD, STOPPED = "alive", "dead", "stopped"


class Boxes:
    """Verbs on the boxes' records."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self._db, self._outbox = db, outbox

    def register(self, name: str, host: str, pid: int, version: str, now: datetime, dead_after: timedelta,
                 holder_gone: Callable[[str, int], bool]) -> int:
        """Take `name` for this process; returns its incarnation (one more than the last). BoxNameTaken when a
        box with a fresh heartbeat holds it, unless `holder_gone(host, pid)` says that holder no longer runs
        (this box restarting on the same host)."""
        try:
            with self._db.write() as s:
                box = s.get(BoxRecord, name, with_for_update=True)
                if (box is not None and box.state == ALIVE and box.heartbeat_at > now - dead_after
                        and (box.host, box.pid) != (host, pid) and not holder_gone(box.host, box.pid)):
                    raise BoxNameTaken(
                        f"box {name!r} already runs on {box.host} (pid {box.pid}, started "
                        f"{box.started_at:%Y-%m-%d %H:%M:%S} UTC): give this one its own name ([server] box)",
                        field="server.box")
                if box is None:
                    box = BoxRecord(name=name, incarnation=0)
                    s.add(box)
                box.host, box.pid, box.version, box.started_at, box.heartbeat_at, box.state = (
                    host, pid, version, now, now, ALIVE)
                box.incarnation += 1
                return box.incarnation
        except IntegrityError:  # another box inserted the name first, in the same instant
            raise BoxNameTaken(f"box {name!r} was taken by another box starting at the same time",
                               field="server.box") from None

    def beat(self, name: str, incarnation: int, now: datetime) -> bool:
        """Say this box is alive. False when it was declared dead (or its name taken) since: it must take its
        name again before it goes on."""
        with self._db.write_core() as conn:
            return changed(conn.execute(
                update(BoxRecord).where(BoxRecord.name == name, BoxRecord.incarnation == incarnation,
                                        BoxRecord.state == ALIVE).values(heartbeat_at=now))) == 1

    def settle_dead(self, now: datetime, dead_after: timedelta) -> list[str]:
        """Declare dead every box silent for longer than `dead_after` and settle what it held; returns their
        names. Each is declared by one box only (the row is claimed with the declaration)."""
        with self._db.write() as s:
            silent = list(s.scalars(select(BoxRecord).where(BoxRecord.state == ALIVE,
                                                            BoxRecord.heartbeat_at < now - dead_after)
                                    .with_for_update(skip_locked=True)))
            for box in silent:
                box.state = DEAD
            dead = [(box.name, box.heartbeat_at) for box in silent]
        for name, last in dead:
            with self._db.read() as s:
                modems = list(s.scalars(select(Modem.name).where(Modem.box == name)))
            requeued, unknown = self._outbox.release_claims(now, modems=modems)
            with self._db.write() as s:
                s.execute(update(Modem).where(Modem.box == name).values(
                    state=ModemState.OFFLINE, updated_at=now,
                    last_error=f"box {name} stopped answering (last heartbeat {last:%H:%M:%S} UTC)"))
            log.warning("box %s stopped answering (last heartbeat %s): %d of its messages back in the queue, %d "
                        "unknown, modems %s offline", name, f"{last:%H:%M:%S}", requeued, unknown,
                        ", ".join(modems) or "none")
        return [name for name, _ in dead]

    def stopped(self, name: str, incarnation: int, now: datetime) -> None:
        """A clean stop: the box is not dead, only gone (its claims were released by its own workers)."""
        with self._db.write_core() as conn:
            conn.execute(update(BoxRecord).where(BoxRecord.name == name, BoxRecord.incarnation == incarnation)
                         .values(state=STOPPED, heartbeat_at=now))

    def list_boxes(self) -> list[BoxRecord]:
        with self._db.read() as s:
            return list(s.scalars(select(BoxRecord).order_by(BoxRecord.name)))
