"""Number rules: what the gateway accepts as a recipient and how it stores it."""

import pytest

from gateway.config import MessagingSettings
from gateway.errors import InvalidNumber
from gateway.rules.numbers import to_e164


@pytest.mark.parametrize("raw, region, expected", [
    ("+447911123456", "GB", "+447911123456"),
    ("07911 123456", "GB", "+447911123456"),
    ("(202) 555-0143", "US", "+12025550143"),
    ("+1 202-555-0143", "GB", "+12025550143"),
    ("0030 691 234 5678", "GB", "+306912345678"),  # international prefix dialled from the UK
    ("6912345678", "GR", "+306912345678"),
])
def test_valid_numbers_become_e164(raw, region, expected):
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize("raw", ["hello", "+1", "", "   ", "+" + "1" * 40, "+447700900123", "12345", "+44 7911"])
def test_invalid_numbers_are_refused_naming_the_field(raw):
    with pytest.raises(InvalidNumber) as info:
        to_e164(raw, "GB", field="to")
    assert info.value.field == "to" and info.value.code == "invalid_number"


def test_an_unallocated_range_is_said_so_with_the_way_to_allow_it():
    with pytest.raises(InvalidNumber, match="in a range no operator serves .* allow_unallocated_numbers = true"):
        to_e164("+447700900123", "GB")  # Ofcom's drama range: the right length, served by nobody
    allowed = MessagingSettings(default_region="GB", allow_unallocated_numbers=True)
    assert to_e164("07700 900123", allowed) == "+447700900123"
    with pytest.raises(InvalidNumber, match="wrong length for \\+44"):
        to_e164("+44 7911", allowed)  # still not a number at all


def test_the_same_recipient_twice_gets_one_message(service):
    messages = service.messages.send(["+447911123456", "07911 123456", "+447911123457"], "once each")
    assert [m.to_number for m in messages] == ["+447911123456", "+447911123457"]
