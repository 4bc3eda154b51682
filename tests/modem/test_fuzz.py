"""Input fuzz (hypothesis): what a modem hands us never raises anything but ValueError."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.modem.pdu import decode_pdu

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=200))
def test_decode_pdu_of_random_bytes_raises_only_value_error(data):
    try:
        decode_pdu(data.hex())
    except ValueError:
        pass


@FAST
@given(st.text(alphabet="0123456789ABCDEFabcdef", max_size=400))
def test_decode_pdu_of_random_hex_raises_only_value_error(text):
    try:
        decode_pdu(text)
    except ValueError:
        pass


@FAST
@given(st.text(max_size=120))
def test_decode_pdu_of_any_text_raises_only_value_error(text):
    try:
        decode_pdu(text)
    except ValueError:
        pass


# a valid SMS-DELIVER (SMSC, sender +447911123456) with bytes flipped at random
DELIVER = "07914477790000F1040C914497112143650000621162215521400568656C6C6F"


@FAST
@given(st.lists(st.tuples(st.integers(0, len(DELIVER) // 2 - 1), st.integers(0, 255)), max_size=6))
def test_decode_pdu_of_a_corrupted_deliver_raises_only_value_error(flips):
    data = bytearray(bytes.fromhex(DELIVER))
    for index, value in flips:
        data[index] = value
    try:
        decode_pdu(data.hex())
    except ValueError:
        pass


@FAST
@given(st.text(max_size=80))
def test_the_fake_modems_command_line_parser_raises_only_value_error(body):
    from fake_modem.engine import parse_line

    try:
        parse_line(body)
    except ValueError:
        pass
