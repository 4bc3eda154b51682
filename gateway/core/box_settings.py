"""Settings an admin changes on the settings page or through the API while the box runs, over the config's: kept
in the database (`admin_settings`), so every box sharing it follows at once, and read where they are used.
Removing one brings back the config's value."""

from __future__ import annotations

from datetime import datetime
from typing import Callable, TypedDict

from gateway.config import MessagingSettings
from gateway.rules.timing import parse_quiet_window
from gateway.store import Store

QUIET_HOURS_KEY = "messaging.quiet_hours"


class QuietHours(TypedDict):
    window: str  # "21:00-08:00" (the recipient's local time); "": none
    changed: bool  # set here, not the config's `[messaging] quiet_hours`


class BoxSettings:
    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime]) -> None:
        self._store, self._settings, self._clock = store, settings, clock

    def quiet_hours(self) -> QuietHours:
        """The hours marketing messages are held through where each recipient lives."""
        kept = self._store.settings.get(QUIET_HOURS_KEY)
        return {"window": self._settings.quiet_hours if kept is None else kept, "changed": kept is not None}

    def quiet_window(self) -> str:
        return self.quiet_hours()["window"]

    def set_quiet_hours(self, window: str | None) -> QuietHours:
        """Hold marketing through `window` ("22:00-07:00"; "": never); None: as the config says. ValidationError
        on field `quiet_hours` for anything else."""
        if window is None:
            self._store.settings.remove(QUIET_HOURS_KEY)
        else:
            window = window.strip()
            if window:
                start, end = parse_quiet_window(window)
                window = f"{start:%H:%M}-{end:%H:%M}"
            self._store.settings.put(QUIET_HOURS_KEY, window, self._clock())
        return self.quiet_hours()
