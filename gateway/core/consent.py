"""Consent: opt-outs and opt-ins by API or keyword, and the refusal of messages to numbers that opted out."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable, Sequence

from gateway.config import MessagingSettings
from gateway.errors import RecipientOptedOut
from gateway.rules.keywords import OPT_IN, OPT_OUT
from gateway.rules.numbers import to_e164
from gateway.rules.timing import check_message_class
from gateway.store import Store
from gateway.store.models import ConsentEvent, Suppression

log = logging.getLogger(__name__)



class Consent:
    """Verbs on the suppression list."""

    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime]) -> None:
        self._store, self._settings, self._clock = store, settings, clock

    def set_consent(self, number: str, *, opted_out: bool, source: str = "api",
                    detail: str | None = None) -> tuple[str, bool]:
        """Put `number` on the suppression list or take it off; the change is kept in the history either way.
        Returns the number in E.164 and whether its state changed."""
        number = to_e164(number, self._settings, field="number")
        action = OPT_OUT if opted_out else OPT_IN
        return number, self._store.consent.set_consent(number, action, source, self._clock(), detail)

    def list_optouts(self) -> tuple[list[Suppression], list[ConsentEvent]]:
        """The numbers opted out now, and every change of consent, oldest first."""
        return self._store.consent.list_suppressions(), self._store.consent.consent_history()

    def applies_to(self, message_class: str | None) -> bool:
        """Whether opted-out numbers are spared messages of `message_class`: marketing ones, or any when
        [messaging] optout_blocks_transactional."""
        return message_class == "marketing" or self._settings.optout_blocks_transactional

    def refuse_opted_out(self, numbers: Sequence[str], message_class: str | None) -> None:
        """RecipientOptedOut (409) when a marketing message (or, if so configured, any message) goes to a
        number (E.164) on the suppression list."""
        check_message_class(message_class)
        if not self.applies_to(message_class):
            return
        blocked = self._store.consent.suppressed_among(list(numbers))
        if blocked:
            first = next(n for n in numbers if n in blocked)
            raise RecipientOptedOut(f"{first} opted out of {message_class or 'these'} messages"
                                    + (f" ({len(blocked)} recipients in all)" if len(blocked) > 1 else ""),
                                    field="to")
