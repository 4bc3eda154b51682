"""Receivers of events: webhooks made by the API or by a config, their deliveries, the callback secret."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable, Collection, Sequence

from gateway.config import WebhookSettings
from gateway.core.mail import MAILTO
from gateway.core.outbound import CallbackDestinations
from gateway.core.webhooks import callback_secret, checked_target
from gateway.doors import CallbackTarget
from gateway.errors import ValidationError
from gateway.rules.destinations import redacted_url
from gateway.rules.paging import page_size
from gateway.store import Store
from gateway.store.models import Delivery, DeliveryAttempt, Webhook
from gateway.values import EVENT_TYPES

log = logging.getLogger(__name__)



class Receivers:
    """Verbs on webhooks and their deliveries."""

    def __init__(self, store: Store, clock: Callable[[], datetime], webhook_settings: WebhookSettings,
                 destinations: CallbackDestinations) -> None:
        self._store, self._clock, self._webhook_settings = store, clock, webhook_settings
        self._destinations = destinations

    def add_webhook(self, url: str | CallbackTarget, events: Sequence[str]) -> Webhook:
        """Register a receiver for `events` (a URL, or a compatibility door's target for its own shape); its
        signing secret is on the returned object (shown once)."""
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if not events or unknown:
            raise ValidationError(f"events must be among {', '.join(EVENT_TYPES)}", field="events")
        target = checked_target(url, self._destinations, field="url")
        return self._store.events.add_webhook(str(target), [e for e in EVENT_TYPES if e in events], self._clock())

    def sync_config_receivers(self, targets: Sequence[CallbackTarget], doors: Collection[str],
                              mail_to: Sequence[str] = ()) -> None:
        """Make this box's config's receivers of received SMS live: its doors' (`gateway.doors.Doors.receivers`)
        and its `mailto:` ones (`mail_to`, gateway/core/mail.py). Add those missing, drop the receivers of
        `doors` (the doors whose webhooks a config makes) and the `mailto:` ones it no longer names (other boxes'
        stay: several boxes may share a database)."""
        unclaimed = self._store.events.sync_config_receivers(
            self._store.db.box, [str(t) for t in targets] + list(mail_to),
            lambda url: url.startswith(MAILTO) or CallbackTarget.parse(url).door in doors, self._clock())
        for webhook in unclaimed:
            log.warning("receiver %s (%s) was made by a config before boxes were recorded and this box's config "
                        "does not name it; if no box's does, delete it: DELETE /api/v1/webhooks/%s",
                        webhook.uid, redacted_url(CallbackTarget.parse(webhook.url).url), webhook.uid)

    def list_webhooks(self) -> list[Webhook]:
        return self._store.events.list_webhooks()

    def get_webhook(self, uid: str) -> Webhook:
        return self._store.events.get_webhook(uid)

    def delete_webhook(self, uid: str) -> None:
        self._store.events.delete_webhook(uid, self._clock())

    def deliveries_about(self, subject: str) -> list[tuple[Delivery, str, list[DeliveryAttempt]]]:
        """Every webhook and callback delivery of an event about `subject` (a message's id), with the event's type
        and the attempts, oldest first."""
        deliveries = self._store.events.deliveries_about(subject)
        attempts = self._store.events.list_attempts([d.id for d, _ in deliveries])
        return [(d, event_type, attempts[d.id]) for d, event_type in deliveries]

    def list_deliveries(self, webhook_uid: str, *,
                        limit: int = 50) -> list[tuple[Delivery, tuple[str, str], list[DeliveryAttempt]]]:
        """The webhook's latest deliveries, each with its event and attempts."""
        deliveries = self._store.events.list_deliveries(webhook_uid, limit=page_size(limit))
        attempts = self._store.events.list_attempts([d.id for d in deliveries])
        events = self._store.events.event_types_of(deliveries)
        return [(d, events[d.event_id], attempts[d.id]) for d in deliveries]

    def send_test(self, webhook_uid: str) -> str:
        """Send the webhook a `webhook.test` event now; the delivery's id (its outcome is in its deliveries)."""
        return self._store.events.send_test(webhook_uid, self._clock())

    def redeliver(self, webhook_uid: str, delivery_uid: str) -> Delivery:
        return self._store.events.redeliver(webhook_uid, delivery_uid, self._clock())

    def callback_secret(self) -> str:
        """The secret that signs status_callback POSTs (configured, or generated and kept)."""
        return self._webhook_settings.callback_secret or callback_secret(self._store, self._clock())
