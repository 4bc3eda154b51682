"""This box among the boxes sharing its database: its name taken at start, its heartbeat, and the dead boxes it
settles (gateway/store/boxes.py holds the rules; this is the process's side of them)."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from gateway.clock import Clock
from gateway.config import ServerSettings
from gateway.core.pool import ModemPool
from gateway.store import Store
from gateway.version import VERSION

log = logging.getLogger(__name__)


def _gone(host: str, pid: int) -> bool:
    """Whether the process `pid` that held the name on `host` no longer runs (known only for this host)."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return pid == os.getpid()


class BoxLiveness:
    """Takes the box's name (`register`, before any modem or request is served), then `beat`s: says it is
    alive, and settles any box that stopped saying so."""

    def __init__(self, store: Store, pool: ModemPool, server: ServerSettings, clock: Clock) -> None:
        self._store, self._pool, self._clock = store, pool, clock
        self.name = store.db.box
        self._dead_after = timedelta(seconds=server.box_dead_after_s)
        self._incarnation = 0

    def register(self) -> None:
        """BoxNameTaken when another live box runs under this name."""
        self._incarnation = self._store.boxes.register(self.name, socket.gethostname(), os.getpid(), VERSION,
                                                       self._clock(), self._dead_after, _gone)

    def beat(self) -> None:
        """Say this box is alive and settle the boxes that stopped saying so. StoreUnavailable when the database
        does not answer (the next beat tries again; meanwhile other boxes may declare this one dead)."""
        now = self._clock()
        if not self._store.boxes.beat(self.name, self._incarnation, now):
            log.error("box %s was declared dead by another box (no heartbeat for over %g s): what it held was "
                      "settled; it takes its name again and reopens its modems", self.name,
                      self._dead_after.total_seconds())
            self.register()
            for worker in self._pool.workers:
                worker.reset()
        self._store.boxes.settle_dead(now, self._dead_after)

    def stopped(self) -> None:
        if self._incarnation:
            self._store.boxes.stopped(self.name, self._incarnation, self._clock())
