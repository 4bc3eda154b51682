"""Phone number rules: parse with phonenumbers, accept only valid numbers, store E.164."""

from __future__ import annotations

import re
from typing import Protocol

import phonenumbers

from gateway.errors import InvalidNumber, said


class NumberPlan(Protocol):
    """How numbers are read ([messaging] in the config)."""

    @property
    def default_region(self) -> str: ...  # for national numbers without a leading +

    @property
    def allow_unallocated_numbers(self) -> bool: ...  # numbers of ranges no operator serves (test ranges)


def to_e164(raw: str, plan: NumberPlan | str, *, field: str = "to") -> str:
    """Normalise `raw` (international, or national in the plan's default region; a plan may be just that region)
    to E.164, or raise InvalidNumber saying what is wrong with it."""
    region, allow_unallocated = (plan, False) if isinstance(plan, str) else (plan.default_region,
                                                                             plan.allow_unallocated_numbers)
    text = raw.strip()
    if not text or len(text) > 32:
        raise InvalidNumber(said("%(raw)r is not a phone number", raw=raw), field=field)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(said("%(raw)r is not a phone number: %(why)s", raw=raw, why=exc._msg),
                            field=field) from exc
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise InvalidNumber(said("%(raw)r is not a phone number: it has the wrong length for +%(country)d", raw=raw,
                                 country=number.country_code), field=field)
    if not phonenumbers.is_valid_number(number) and not allow_unallocated:
        raise InvalidNumber(said("%(raw)r is in a range no operator serves (unallocated, or reserved for tests and "
                                 "drama); to send to such numbers anyway, set allow_unallocated_numbers = true in "
                                 "[messaging]", raw=raw), field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_DIALLABLE = re.compile(r"\+?[0-9]{3,15}")


def takes_replies(sender: str) -> bool:
    """Whether an SMS can be sent back to `sender`: a phone number (international or national digits), not an
    alphanumeric sender ID such as `BANK`, which no network delivers to."""
    return _DIALLABLE.fullmatch(sender.strip()) is not None
