"""When a message may go and until when (pure): `send_at`, `validity`, `priority`.

`send_at` is ISO 8601 with an offset ("2026-11-26T09:00:00+01:00"), or a local time without one plus an IANA
zone name in `time_zone` ("2026-11-26T09:00:00", "Europe/Paris"). `validity` is seconds or an ISO 8601
duration ("PT10M", "P1DT2H"): a message not sent within it after it becomes due expires. Marketing messages
are held (scheduled) while it is quiet hours where the recipient lives (`quiet_hold`): when they are queued,
and again when a modem claims them.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers.timezone import time_zones_for_number

from gateway.errors import ValidationError, said
from gateway.values import PRIORITIES

MAX_VALIDITY = timedelta(days=30)
_DURATION = re.compile(r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?"
                       r"(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$")


def parse_priority(value: str | None) -> int:
    if value is None:
        return PRIORITIES["normal"]
    try:
        return PRIORITIES[value]
    except KeyError:
        raise ValidationError(f"'priority' must be one of {', '.join(PRIORITIES)}", field="priority") from None


RECIPIENT_ZONE = "recipient"  # a `time_zone` that reads a `send_at` in each recipient's own zone


def send_at_for(value: str | None, time_zone: str | None, number: str) -> datetime | None:
    """`parse_send_at`; with RECIPIENT_ZONE, the time read where `number` lives (the first zone phonenumbers
    gives it: a number of a country with several zones is read in its first)."""
    return parse_send_at(value, zones_of(number)[0] if time_zone == RECIPIENT_ZONE else time_zone)


def parse_send_at(value: str | None, time_zone: str | None = None) -> datetime | None:
    """The UTC instant a message is held until (None: send now)."""
    if value is None:
        if time_zone is not None:
            raise ValidationError("'time_zone' only qualifies a 'send_at' given without an offset",
                                  field="time_zone")
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError("'send_at' must be an ISO 8601 date and time, e.g. 2026-11-26T09:00:00+01:00",
                              field="send_at") from None
    if when.tzinfo is None:
        if time_zone is None:
            raise ValidationError("'send_at' needs an offset (e.g. +01:00) or a 'time_zone' (e.g. Europe/Paris)",
                                  field="send_at")
        try:
            when = when.replace(tzinfo=ZoneInfo(time_zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {time_zone!r} (an IANA name, e.g. Europe/Paris)",
                                  field="time_zone") from None
    elif time_zone is not None:
        raise ValidationError("give 'send_at' with an offset or with a 'time_zone', not both", field="time_zone")
    return when.astimezone(timezone.utc)


def parse_validity(value: int | float | str | None) -> timedelta | None:
    """How long a message may wait to be sent (None: no limit)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 < value <= MAX_VALIDITY.total_seconds():  # NaN, infinities and huge numbers too
            raise ValidationError(f"'validity' must be positive and at most {MAX_VALIDITY.days} days",
                                  field="validity")
        validity = timedelta(seconds=value)
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None or match.string in ("P", "PT") or match.string.endswith("T"):
            raise ValidationError("'validity' must be seconds or an ISO 8601 duration such as PT10M",
                                  field="validity")
        try:
            validity = timedelta(**{k: float(v) for k, v in match.groupdict().items() if v is not None})
        except OverflowError:
            validity = MAX_VALIDITY * 2  # refused below
    if not timedelta(0) < validity <= MAX_VALIDITY:
        raise ValidationError(f"'validity' must be positive and at most {MAX_VALIDITY.days} days",
                              field="validity")
    return validity


# --- quiet hours: marketing messages wait for the recipient's allowed hours -----------------------

MESSAGE_CLASSES = ("transactional", "marketing")


def check_message_class(message_class: str | None) -> None:
    """ValidationError on `class` unless it is absent or one of MESSAGE_CLASSES."""
    if message_class not in (None, *MESSAGE_CLASSES):
        raise ValidationError(f"'class' must be one of {', '.join(MESSAGE_CLASSES)}", field="class")


_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def parse_quiet_window(value: str, field: str = "quiet_hours") -> tuple[time, time]:
    """"21:00-08:00" → (21:00, 08:00): the hours in which marketing messages are not sent (local time)."""
    match = _WINDOW.match(value.strip()) if isinstance(value, str) else None
    if match is None or match.group(1, 2) == match.group(3, 4):
        raise ValidationError(said("'%(field)s' must be a window like \"21:00-08:00\" (local time, start-end)",
                                   field=field), field=field)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1, m1), time(h2, m2)


def zones_of(number: str) -> tuple[str, ...]:
    """The IANA zones of an E.164 number (phonenumbers' time-zone data); UTC when it has none."""
    zones = tuple(z for z in time_zones_for_number(phonenumbers.parse(number)) if z != "Etc/Unknown")
    return zones or ("UTC",)


def _quiet_end(at: datetime, zone: str, window: tuple[time, time]) -> datetime | None:
    """None when `at` is in allowed hours in `zone`, else when the quiet window ends there."""
    start, end = window
    local = at.astimezone(ZoneInfo(zone))
    now = local.time()
    quiet = (start <= now or now < end) if start > end else (start <= now < end)
    if not quiet:
        return None
    day = local.date() + timedelta(days=1) if now >= end else local.date()
    return datetime.combine(day, end, tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def quiet_hold(at: datetime, zones: tuple[str, ...], window: tuple[time, time]) -> datetime | None:
    """None when `at` is outside the quiet window in every zone of the number; else the first instant (from
    `at`) that is, the most restrictive reading. When no such instant comes within a few steps (a number
    whose zones span most of the day, e.g. +7), the first zone phonenumbers lists decides alone."""
    when = at
    for _ in range(len(zones) + 2):
        ends = [e for e in (_quiet_end(when, z, window) for z in zones) if e is not None]
        if not ends:
            return None if when == at else when
        when = max(ends)
    return _quiet_end(at, zones[0], window)
