"""Declared request bodies (web/schemas.py): what decodes, and which refusal comes first."""

from __future__ import annotations

import math
from typing import ClassVar

import pytest

from gateway.errors import InvalidJson, ValidationError
from web.schemas import UNSET, Request, UnsetType, decode, given


class Order(Request):
    to: str | list[str]
    count: int | UnsetType = UNSET
    weight: float | UnsetType = UNSET
    urgent: bool = False


class Loose(Request, forbid_unknown_fields=False):
    refusals: ClassVar[dict[str, str]] = {"code": "'code' is required: a code such as \"*100#\""}

    code: str


def test_a_good_body_decodes_and_absent_fields_are_unset():
    order = decode(b'{"to": ["+447911123456"], "weight": 2}', Order)
    assert (order.to, order.weight, order.urgent, given(order.count)) == (["+447911123456"], 2, False, None)


@pytest.mark.parametrize("raw, message, field", [
    (b'{"to": "a", "count": true, "colour": 1}', "unknown field 'colour'", "colour"),  # names before types
    (b'{"count": "x"}', "'to' is required", "to"),  # presence before types
    (b'{"to": null}', "'to' is required", "to"),
    (b'{"to": "a", "urgent": null}', "'urgent' has the wrong type", "urgent"),  # null is never a value
    (b'{"to": "a", "count": 1.0}', "'count' has the wrong type", "count"),
    (b'{"to": "a", "weight": false}', "'weight' has the wrong type", "weight"),  # a bool is not a number
    (b'{"to": ["a", 1], "count": "x"}', "'count' has the wrong type", "count"),  # outer types before list items
    (b'{"to": ["a", 1]}', "'to' must be a string or a list of strings", "to"),
])
def test_refusals_name_the_field_in_a_fixed_order(raw, message, field):
    with pytest.raises(ValidationError) as refused:
        decode(raw, Order)
    assert (type(refused.value), refused.value.message, refused.value.field) == (ValidationError, message, field)


@pytest.mark.parametrize("raw", [b"", b" \n", b"[1]", b'{"to": "a"', b'{"to": "caf\xe9"}', b'{"to": "\xed\xa0\xbd"}'])
def test_what_is_not_one_json_object_in_utf8_is_invalid_json(raw):
    with pytest.raises(InvalidJson):
        decode(raw, Order)


def test_what_the_standard_parser_accepts_still_decodes():
    """msgspec refuses these; the API has always taken them (the service judges the values)."""
    assert math.isnan(decode(b'{"to": "a", "weight": NaN}', Order).weight)
    assert decode(b'{"to": "a", "weight": 1e400}', Order).weight == math.inf
    assert decode(b'{"to": "\\ud83d"}', Order).to == "\ud83d"
    assert decode(b'{"to": 5, "to": "a"}', Order).to == "a"  # the last of a repeated name counts


def test_a_declaration_may_let_other_names_through_and_word_its_own_refusal():
    assert decode(b'{"code": "*100#", "other": 1}', Loose).code == "*100#"
    for raw in (b"{}", b'{"code": 5}', b'{"code": null}'):
        with pytest.raises(ValidationError, match=r"such as \"\*100#\"") as refused:
            decode(raw, Loose)
        assert refused.value.field == "code"
