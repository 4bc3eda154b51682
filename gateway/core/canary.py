"""A canary for silent SIMs: the commonest complaint about SMS gateways is "sent, never arrived" from a SIM that
takes every submit and delivers nothing (out of credit, barred, a dead SMS centre). Every `[canary] interval_s`
each modem of this box whose number is known sends a probe (`smsgw probe <token>`) to another modem of the boxes,
or, when it is the only one, to `echo_number` (a number that answers with the text: the echo comes back to it);
none is sent in `quiet_hours` where the probe is received. The receiving worker matches a probe (or its echo) on
arrival: it never reaches the inbox, webhooks or rules. A probe still missing
after `late_after_s` marks its sender degraded: it then sends only its own probes (routing sends the rest through
the others), a `modem.degraded` event goes out, the `modem_degraded` alert is raised; its next probe that arrives
ends it.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Callable

from gateway.config import CanarySettings
from gateway.core.messages import Messages
from gateway.errors import GatewayError
from gateway.rules.probes import probe_text
from gateway.rules.timing import parse_quiet_window, quiet_hold, zones_of
from gateway.store import Store
from gateway.store.stats import UP_STATES

log = logging.getLogger(__name__)

class Canary:
    """Runs `check` (an APScheduler job): judges the late probes, then sends the next ones of this box's modems."""

    def __init__(self, store: Store, settings: CanarySettings, clock: Callable[[], datetime], messages: Messages, *,
                 box: str, degrade: Callable[[str], None] = lambda name: None) -> None:
        """`degrade(name)`: tell this box's pool at once (ModemPool.set_degraded)."""
        self._store, self._settings, self._clock, self._messages, self._box = store, settings, clock, messages, box
        self._degrade = degrade

    def check(self) -> None:
        """Judge the late probes, then send the next ones. StoreUnavailable when the database is away."""
        now = self._clock()
        for probe in self._store.probes.judge_late(now - timedelta(seconds=self._settings.late_after_s), now):
            log.warning("canary: the probe from %s to %s sent at %s never arrived: %s is degraded", probe.from_modem,
                        probe.to_modem, probe.sent_at, probe.from_modem)
            self._degrade(probe.from_modem)
        modems = [m for m in self._store.modems.list_modems() if m.own_number]
        for sender in modems:
            if sender.box not in (None, self._box) or sender.state not in UP_STATES:
                continue
            if self._store.probes.waiting_from(sender.name) is not None:
                continue  # one at a time: judged before the next
            others = [m for m in modems if m.name != sender.name]
            if others:
                target = min(others, key=lambda m: (m.name <= sender.name, m.name))  # the next by name, round
                to_number, to_modem = target.own_number or "", target.name
            elif self._settings.echo_number:
                to_number, to_modem = self._settings.echo_number, sender.name  # the echo comes back to it
            else:
                return  # a lone SIM has nobody to reach
            if self._quiet(to_number, now):
                continue
            token = secrets.token_hex(4)
            self._store.probes.add(token, sender.name, to_modem, now)  # before it can arrive
            try:
                [message] = self._messages.send(to_number, probe_text(token), via=sender.name)
            except GatewayError as exc:
                self._store.probes.forget(token)
                log.warning("canary: no probe from %s: %s", sender.name, exc.message)
                continue
            self._store.probes.queued(token, message.uid)

    def _quiet(self, number: str, now: datetime) -> bool:
        """Whether `now` is in `quiet_hours` where `number` lives (no probe wakes anyone then)."""
        hours = self._settings.quiet_hours
        if not hours:
            return False
        return quiet_hold(now, zones_of(number), parse_quiet_window(hours, "canary.quiet_hours")) is not None
