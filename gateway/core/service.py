"""The gateway's use cases, by area: what the web, the doors, the CLI and the periodic jobs call.

Each area is its own object over the store, with the settings, the clock and the collaborators it needs given
at construction; this module only builds them and wires those that need each other:

| area | module | needs |
| --- | --- | --- |
| `messages` (send, read, cancel, retry; inbox, conversations, routes) | messages.py | policy, consent, destinations |
| `routing` (measured delivery per target; adaptive routing's deferrals) | adaptive.py | pool |
| `templates` (templates; the text a request sends) | templates.py | — |
| `consent` (opt-outs; refusing opted-out numbers) | consent.py | — |
| `otp` (one-time codes) | otp.py | policy, consent, templates |
| `batches` | batches.py | policy, consent, templates |
| `keys` (API keys, authentication, request rates) | access.py | — |
| `accounts` (departments: quotas, routes, use; who counts against them) | accounts.py | — |
| `receivers` (webhooks, deliveries, the callback secret) | receivers.py | destinations |
| `receipts` (upstream providers' delivery receipts) | upstreams.py | receivers' secret |
| `modems` (state, reset, USSD) | modem_control.py | pool |
| `privacy` (audit log, retention, redaction, erasure) | privacy.py | — |
| `idempotency` | idempotency.py | — |
| `admin` (the status page's password, session secret) | admin_auth.py | — |
| `stats` (figures, read in the database when asked) | gateway/store/stats.py | — |

A verb validates and normalises its input, makes its change in one transaction of the store, then wakes the
pool when it queued work. `policy` (gateway/core/queue_policy.py) decides routes and holds as messages queue;
`destinations` (gateway/core/outbound.py) decides where callbacks may connect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Mapping, Sequence

from gateway.clock import utcnow
from gateway.config import MessagingSettings, RouteSettings, RoutingSettings, UpstreamSettings, WebhookSettings
from gateway.core.access import Access
from gateway.core.accounts import AccountBook
from gateway.core.adaptive import AdaptiveRouting
from gateway.core.admin_auth import AdminAuth
from gateway.core.batches import Batches
from gateway.core.box_settings import BoxSettings
from gateway.core.consent import Consent
from gateway.core.idempotency import Idempotency
from gateway.core.contacts import ContactBook
from gateway.core.inbound_rules import InboundRuleService
from gateway.core.messages import Messages
from gateway.core.modem_control import ModemControl
from gateway.core.otp import OneTimeCodes
from gateway.core.outbound import CallbackDestinations
from gateway.core.ports import NoPool, PoolControl
from gateway.core.privacy import Privacy
from gateway.core.queue_policy import QueuePolicy
from gateway.core.receivers import Receivers
from gateway.core.templates import Templates
from gateway.core.upstreams import UpstreamReceipts
from gateway.store import Store


class GatewayService:
    """The use cases of one gateway, by area (see the table above). `pool` is told when new work is committed;
    a process that runs no modems (the CLI) leaves it to the running gateway's idle poll."""

    def __init__(self, store: Store, settings: MessagingSettings, pool: PoolControl | None = None,
                 clock: Callable[[], datetime] = utcnow, webhook_settings: WebhookSettings | None = None,
                 ussd_timeout_s: float = 30.0, routes: Sequence[RouteSettings] = (),
                 modem_costs: Mapping[str, float] | None = None, can_mail: bool = False,
                 upstreams: Sequence[UpstreamSettings] = (), routing: RoutingSettings | None = None) -> None:
        """`can_mail`: the box's config names an SMTP server (inbound rules may then mail)."""
        pool = pool or NoPool()
        self.store = store
        self.settings = settings
        self.clock = clock
        self.box_settings = BoxSettings(store, settings, clock, routes, lambda: self.policy.routes_changed())
        self.policy = QueuePolicy(settings, store.modems, store.outbox, routes, modem_costs,
                                  self.box_settings.quiet_window, self.box_settings.box_routes)
        self.routing = AdaptiveRouting(store, routing or RoutingSettings(), modem_costs or {}, clock, pool)
        self.templates = Templates(store, settings, clock)
        self.consent = Consent(store, settings, clock)
        webhook_settings = webhook_settings or WebhookSettings()
        self.destinations = CallbackDestinations(webhook_settings.allow)  # where callbacks may connect
        self.messages = Messages(store, settings, pool, clock, self.policy, self.consent, self.destinations)
        self.otp = OneTimeCodes(store, settings, pool, clock, self.policy, self.consent, self.templates)
        self.batches = Batches(store, settings, pool, clock, self.policy, self.consent, self.templates)
        self.keys = Access(store, settings, clock)
        self.accounts = AccountBook(store, clock)
        self.receivers = Receivers(store, clock, webhook_settings, self.destinations)
        self.receipts = UpstreamReceipts(store, upstreams, self.receivers.callback_secret, clock)
        self.contacts = ContactBook(store, settings, clock)
        self.inbound_rules = InboundRuleService(store, settings, clock, self.messages, self.destinations,
                                                can_mail=lambda: can_mail)
        self.modems = ModemControl(store, pool, ussd_timeout_s)
        self.privacy = Privacy(store, settings, clock)
        self.idempotency = Idempotency(store, settings, clock)
        self.admin = AdminAuth(store, clock)
        self.stats = store.stats  # read-only figures for the status page, /metrics and /healthz
        self.alerts = store.alerts  # raised by gateway/core/alerts.py; read and muted by the API and the page
