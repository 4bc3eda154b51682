"""Alerts that reach a person: the box looks at itself every `[alerts] check_interval_s` and raises what has
gone wrong (and resolves it when it is right again), once however many boxes watch.

Watched, with the thresholds of `[alerts]`:
- each modem of this box offline, unregistered or without its SIM for `modem_down_after_s` (`modem_down:<name>`),
  its SMS memory `storage_full_pct` full (`sim_storage_full:<name>`), or its credit under its `[[modems]]
  low_credit` or its SIM refused by the network as out of credit (`credit_low:<name>`), or its canary probe
  missing (`modem_degraded:<name>`), or its monthly bundle used up (`bundle_used:<name>`);
- the queue: the oldest queued message waiting over `queue_age_s` (`queue_age`);
- the last hour: the share of finished messages that never reached the network over `error_rate_above`
  (`error_rate`), the share of reported parts delivered under `delivery_ratio_below` (`delivery_ratio`), each
  on `min_messages` at least;
- a box that stopped beating while others share the database (`box_dead:<name>`);
- this box's disk where the data lives (`disk_space:<box>`) and its HTTPS certificate (`certificate:<box>`).

Each alert goes to webhooks subscribed to `alert.raised` / `alert.resolved`, to MQTT, to the status page's
banner, and, unless muted, by mail to `email_to` (through the durable deliveries) and by SMS to `sms_to` (through
a modem other than the one in trouble when one is up).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from decimal import Decimal
from typing import Callable, Mapping, Sequence

from gateway.config import AlertSettings
from gateway.core.mail import MAILTO
from gateway.core.messages import Messages
from gateway.errors import GatewayError
from gateway.rules.credit import parse_credit
from gateway.store import Store
from gateway.store.models import Alert, Modem
from gateway.store.stats import UP_STATES
from gateway.values import NO_CREDIT

log = logging.getLogger(__name__)

GLOBAL_KINDS = ("queue_age", "error_rate", "delivery_ratio", "box_dead")  # watched by every box alike


@dataclass(frozen=True)
class Finding:
    key: str
    kind: str
    subject: str
    message: str


class AlertWatch:
    """Runs `check` (an APScheduler job of the runtime); remembers since when each of its modems is down."""

    def __init__(self, store: Store, settings: AlertSettings, clock: Callable[[], datetime], messages: Messages, *,
                 box: str, box_dead_after_s: float, data_dir: Path | None = None, tls_cert: str = "",
                 can_mail: bool = False, low_credit: Mapping[str, float] | None = None) -> None:
        """`low_credit`: the threshold of each modem whose credit is watched ([[modems]] low_credit)."""
        self._store, self._settings, self._clock, self._messages = store, settings, clock, messages
        self._box, self._dead_after = box, timedelta(seconds=box_dead_after_s)
        self._data_dir, self._tls_cert = data_dir, tls_cert
        self._notify = [MAILTO + a for a in settings.email_to] if can_mail else []
        self._down_since: dict[str, datetime] = {}
        self._low_credit = {name: Decimal(str(v)) for name, v in (low_credit or {}).items() if v > 0}

    def check(self) -> None:
        """Raise what is wrong now and resolve what no longer is. StoreUnavailable when the database is away."""
        now = self._clock()
        modems = self._store.modems.list_modems()  # read once: the findings, which alerts are ours, the SMS's modem
        findings = {f.key: f for f in self.findings(now, modems)}
        for finding in findings.values():
            alert = self._store.alerts.raise_alert(finding.key, finding.kind, finding.subject, finding.message, now,
                                                   self._notify)
            if alert is not None:
                log.warning("alert raised: %s", finding.message)
                self._text(alert, "ALERT", now, modems)
        ours = {m.name for m in modems if m.box in (None, self._box)}
        for alert in self._store.alerts.open_alerts():
            if alert.key not in findings and self._watches(alert.key, ours):
                resolved = self._store.alerts.resolve(alert.key, now, self._notify)
                if resolved is not None:
                    log.info("alert resolved: %s", alert.message)
                    self._text(resolved, "RESOLVED", now, modems)

    def findings(self, now: datetime, modems: Sequence[Modem] | None = None) -> list[Finding]:
        """What is wrong now; `modems`: the modems' rows as just read (read here when not given)."""
        s, found = self._settings, []
        if modems is None:
            modems = self._store.modems.list_modems()
        for modem in modems:
            if modem.box not in (None, self._box):
                continue
            if modem.state in UP_STATES:
                self._down_since.pop(modem.name, None)
            else:
                since = self._down_since.setdefault(modem.name, now)
                if now - since >= timedelta(seconds=s.modem_down_after_s):
                    found.append(Finding(f"modem_down:{modem.name}", "modem_down", modem.name,
                                         f"modem {modem.name} is {modem.state.value} since {since:%H:%M} UTC"
                                         + (f": {modem.last_error}" if modem.last_error else "")))
            if modem.degraded_since is not None:
                found.append(Finding(f"modem_degraded:{modem.name}", "modem_degraded", modem.name,
                                     f"modem {modem.name}'s canary SMS did not arrive (since "
                                     f"{modem.degraded_since:%H:%M} UTC): its SIM takes SMS and delivers none"))
            credit = parse_credit(modem.balance) if modem.name in self._low_credit else None
            if credit is not None and credit.amount < self._low_credit[modem.name]:
                found.append(Finding(f"credit_low:{modem.name}", "credit_low", modem.name,
                                     f"modem {modem.name}'s credit is {credit}, under {self._low_credit[modem.name]}: "
                                     "it takes no work until it is topped up"))
            elif (modem.last_error or "").startswith(NO_CREDIT):
                found.append(Finding(f"credit_low:{modem.name}", "credit_low", modem.name,
                                     f"modem {modem.name}: the network refuses its SMS ({modem.last_error}); it takes "
                                     "no work for a while: top it up or check its plan"))
            if modem.bundle_size and (modem.bundle_used or 0) >= modem.bundle_size:
                renews = f" on {modem.bundle_resets_at:%d %b}" if modem.bundle_resets_at else ""
                found.append(Finding(f"bundle_used:{modem.name}", "bundle_used", modem.name,
                                     f"modem {modem.name} used its bundle of {modem.bundle_size} SMS: it takes no work "
                                     f"until it renews{renews}"))
            if modem.storage_total and modem.storage_used is not None and \
                    100 * modem.storage_used / modem.storage_total >= s.storage_full_pct:
                found.append(Finding(f"sim_storage_full:{modem.name}", "sim_storage_full", modem.name,
                                     f"modem {modem.name}'s SMS memory is {modem.storage_used} of "
                                     f"{modem.storage_total} full"))
        queue = self._store.stats.queue(now)
        if queue.oldest_queued_age_s is not None and queue.oldest_queued_age_s > s.queue_age_s:
            found.append(Finding("queue_age", "queue_age", "queue",
                                 f"{queue.queued} messages queued; the oldest has waited "
                                 f"{queue.oldest_queued_age_s / 60:.0f} min"))
        hour = self._store.stats.delivery(now, timedelta(hours=1))
        if hour.finished >= s.min_messages and hour.rate is not None and 1 - hour.rate > s.error_rate_above:
            found.append(Finding("error_rate", "error_rate", "messages",
                                 f"{hour.finished - hour.reached_network} of {hour.finished} messages in the last hour "
                                 f"did not reach the network ({100 * (1 - hour.rate):.1f} %)"))
        delivered, reported = self._store.alerts.delivery_reports(now - timedelta(hours=1), now)
        if reported >= s.min_messages and delivered / reported < s.delivery_ratio_below:
            found.append(Finding("delivery_ratio", "delivery_ratio", "messages",
                                 f"only {delivered} of {reported} reported parts in the last hour were delivered "
                                 f"({100 * delivered / reported:.0f} %)"))
        for box in self._store.boxes.list_boxes():
            if box.name != self._box and (box.state == "dead" or box.state == "alive"
                                          and now - box.heartbeat_at > self._dead_after):
                found.append(Finding(f"box_dead:{box.name}", "box_dead", box.name,
                                     f"box {box.name} on {box.host} has not beaten since "
                                     f"{box.heartbeat_at:%H:%M:%S} UTC"))
        found += self._local(now)
        return found

    def _local(self, now: datetime) -> list[Finding]:
        """This box's own disk and certificate."""
        found = []
        if self._data_dir is not None:
            free_mb = shutil.disk_usage(self._data_dir).free / 1e6
            if free_mb < self._settings.disk_free_below_mb:
                found.append(Finding(f"disk_space:{self._box}", "disk_space", self._box,
                                     f"box {self._box} has {free_mb:.0f} MB free where its data lives "
                                     f"({self._data_dir})"))
        if self._tls_cert:
            expires = _certificate_expiry(self._tls_cert)
            if expires is not None and expires - now < timedelta(days=self._settings.certificate_days):
                found.append(Finding(f"certificate:{self._box}", "certificate", self._box,
                                     f"box {self._box}'s HTTPS certificate expires {expires:%Y-%m-%d %H:%M} UTC"))
        return found

    def _watches(self, key: str, our_modems: set[str]) -> bool:
        """Whether this box judges `key` (another box judges its own modems, disk and certificate)."""
        kind, _, subject = key.partition(":")
        if kind in GLOBAL_KINDS:
            return True
        if kind in ("disk_space", "certificate"):
            return subject == self._box
        return subject in our_modems

    def _text(self, alert: Alert, word: str, now: datetime, modems: Sequence[Modem]) -> None:
        """The SMS to `sms_to`, through a modem that is up and is not the alert's subject."""
        if not self._settings.sms_to or (alert.muted_until is not None and alert.muted_until > now):
            return
        via = next((m.name for m in modems if m.state in UP_STATES and m.name != alert.subject), None)
        try:
            self._messages.send(list(self._settings.sms_to), f"[smsgw {self._box}] {word}: {alert.message}"[:600],
                                via=via)
        except GatewayError as exc:
            log.warning("alerts: the SMS about %s was not sent: %s", alert.key, exc.message)


def _certificate_expiry(path: str) -> datetime | None:
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        log.warning("alerts: cannot read the certificate %s: %s", path, exc)
        return None
    return certificate.not_valid_after_utc
