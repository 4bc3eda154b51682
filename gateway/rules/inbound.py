"""Inbound rules without code (gateway/core/inbound_rules.py runs them): which received SMS a rule matches, and
the texts its replies and forwards are made of. Pure functions of their arguments.

A rule matches when every condition it sets holds: `keyword` (the first word, case, accents and punctuation
around it ignored), `pattern` (a regular expression searched in the text, case ignored), `senders` (numbers, or
prefixes ending in `*` such as `+4479*`), `sender_groups` (the sender is a contact in one of these groups),
`modem` (the receiving modem's name), `hours` (a local-time window like `08:00-18:00` in `time_zone`; it may run
past midnight).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.errors import ValidationError
from gateway.rules.templates import placeholders, render
from gateway.rules.timing import parse_quiet_window

TEMPLATE_FIELDS = ("from", "to", "text", "keyword", "rest", "modem")  # what a reply or forward text may use
MAX_PATTERN = 500


@dataclass(frozen=True)
class Conditions:
    keyword: str | None = None
    pattern: str | None = None
    senders: tuple[str, ...] = ()
    sender_groups: tuple[str, ...] = ()
    modem: str | None = None
    hours: str | None = None
    time_zone: str = "UTC"


@dataclass(frozen=True)
class ReceivedFacts:
    """What a rule looks at of one received SMS."""

    sender: str
    text: str
    modem: str
    recipient: str | None
    at: datetime
    groups: frozenset[str] = frozenset()  # the contact groups the sender is in (read only for rules that ask)


def fold(text: str) -> str:
    """`text` without case or accents: "Stöp" and "STOP" fold alike."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def split_keyword(text: str) -> tuple[str, str]:
    """The first word, without punctuation around it, and the rest of `text` ("Book! 10:00" → ("Book", "10:00"))."""
    words = text.strip().split(maxsplit=1)
    first = re.sub(r"^\W+|\W+$", "", words[0]) if words else ""
    return first, words[1] if len(words) > 1 else ""


def check_conditions(conditions: Conditions) -> None:
    """ValidationError naming the first condition that cannot work."""
    if conditions.keyword is not None and (not conditions.keyword.strip() or len(conditions.keyword.split()) > 1):
        raise ValidationError("keyword must be one word", field="keyword")
    if conditions.pattern is not None:
        if len(conditions.pattern) > MAX_PATTERN:
            raise ValidationError(f"pattern must be at most {MAX_PATTERN} characters", field="pattern")
        try:
            re.compile(conditions.pattern)
        except re.error as exc:
            raise ValidationError(f"pattern is not a regular expression: {exc}", field="pattern") from exc
    for sender in conditions.senders:
        digits = sender[:-1] if sender.endswith("*") else sender
        if not (digits.startswith("+") and digits[1:].isdigit()):
            raise ValidationError(f"senders: {sender!r} must be a number like +447911123456 or a prefix like "
                                  "+4479*", field="senders")
    if conditions.hours is not None:
        parse_quiet_window(conditions.hours, "hours")
    try:
        ZoneInfo(conditions.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"time_zone {conditions.time_zone!r} is not an IANA zone", field="time_zone") from exc


def matches(conditions: Conditions, sms: ReceivedFacts) -> bool:
    if conditions.keyword is not None and fold(split_keyword(sms.text)[0]) != fold(conditions.keyword):
        return False
    if conditions.pattern is not None and re.search(conditions.pattern, sms.text, re.IGNORECASE) is None:
        return False
    if conditions.senders and not any(sms.sender.startswith(s[:-1]) if s.endswith("*") else sms.sender == s
                                      for s in conditions.senders):
        return False
    if conditions.sender_groups and sms.groups.isdisjoint(conditions.sender_groups):
        return False
    if conditions.modem is not None and sms.modem != conditions.modem:
        return False
    return conditions.hours is None or _within(conditions.hours, conditions.time_zone, sms.at)


def _within(hours: str, zone: str, at: datetime) -> bool:
    start, end = parse_quiet_window(hours, "hours")
    now: time = at.astimezone(ZoneInfo(zone)).time()
    return (start <= now or now < end) if start > end else (start <= now < end)


def check_template(body: str, field: str) -> None:
    unknown = [name for name in placeholders(body, field=field) if name not in TEMPLATE_FIELDS]
    if unknown:
        raise ValidationError(f"{field}: no field {{{unknown[0]}}}; a rule's texts may use "
                              + ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS), field=field)


def fill(body: str, sms: ReceivedFacts) -> str:
    """`body` with the received SMS's fields ({from}, {text}, {keyword}, {rest}, ...)."""
    keyword, rest = split_keyword(sms.text)
    fields = {"from": sms.sender, "to": sms.recipient or "", "text": sms.text, "keyword": keyword, "rest": rest,
              "modem": sms.modem}
    return render(body, {name: fields[name] for name in placeholders(body)})
