"""What the pool knows about each modem, kept as data (readable without talking to the modem)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from gateway.store.database import Database
from gateway.store.models import Modem
from gateway.errors import ModemNotFound
from gateway.values import ModemChanges, ModemState

log = logging.getLogger(__name__)


class Modems:
    """Verbs on modem records."""

    def __init__(self, db: Database) -> None:
        self._db = db


    def save_modem(self, name: str, port: str, now: datetime, **fields: Any) -> Modem:
        """Record what the pool knows about a modem (creating its row on first sight); the row as committed (what
        others recorded on it too, such as a canary's verdict)."""
        with self._db.write() as s:
            modem = s.get(Modem, name)
            if modem is None:
                modem = Modem(name=name, port=port, state=ModemState.CONNECTING, updated_at=now)
                s.add(modem)
            if self._db.box and modem.box != self._db.box:
                if modem.box:
                    log.warning("modem %s moves from box %s to box %s: modem names must be unique across boxes",
                                name, modem.box, self._db.box)
                modem.box = self._db.box
            modem.port, modem.updated_at = port, now
            for key, value in fields.items():
                setattr(modem, key, value)
        return modem

    def change_modem(self, name: str, changes: ModemChanges) -> Modem:
        """Set what an admin changed of modem `name` (every field: None is the config's); the row as committed."""
        with self._db.write() as s:
            modem = s.get(Modem, name)
            if modem is None:
                raise ModemNotFound(f"no modem named {name!r}", field="name")
            for key, value in changes.items():
                setattr(modem, key, value)
        return modem

    def list_modems(self) -> list[Modem]:
        with self._db.read() as s:
            return list(s.scalars(select(Modem).order_by(Modem.name)))
