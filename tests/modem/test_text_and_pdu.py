"""The SMS codec: segmentation boundaries, SMS-SUBMIT golden vectors, decoding real and round-tripped PDUs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gateway.modem.pdu import build_submit_pdus, decode_pdu
from gateway.rules.text import Segmentation, segment
from gateway.values import Concat, ReceivedSms, StatusReport

GREEK_CAPITALS_IN_GSM7 = "ΔΦΓΛΩΠΨΣΘΞ"
EMOJI = "\U0001F600"  # 😀: two UTF-16 code units


def submit_to_deliver(submit_hex: str, scts: bytes = bytes.fromhex("42200141000040")) -> str:
    """The SMS-DELIVER a recipient would get for one of our SMS-SUBMITs (same address, PID, DCS, UD).

    A test-side converter, written from TS 23.040 §9.2.2.1/9.2.2.2, so decode_pdu is checked against what
    build_submit_pdus produced without sharing its code. The default SCTS is 2024-02-10 14:00:00 +01:00.
    """
    tpdu = bytes.fromhex(submit_hex)[1:]  # drop our 00 SMSC octet
    first = tpdu[0]
    address_len = 2 + (tpdu[2] + 1) // 2
    address = tpdu[2 : 2 + address_len]
    pos = 2 + address_len
    pid, dcs = tpdu[pos], tpdu[pos + 1]
    pos += 2
    if first & 0x18 == 0x10:
        pos += 1  # relative TP-VP
    user_data = tpdu[pos:]  # UDL + UD
    deliver_first = 0x04 | (first & 0x40)  # MTI 00, more-messages-to-send 0 (bit set means "no more"), UDHI
    return ("07919471000000F0" + bytes([deliver_first]).hex() + address.hex() + bytes([pid, dcs]).hex()
            + scts.hex() + user_data.hex()).upper()


def round_trip(text: str) -> list[ReceivedSms]:
    pdus = build_submit_pdus("+447911123456", segment(text), concat_ref=42, request_status_report=True)
    return [decode_pdu(submit_to_deliver(p.hex), memory="SM", index=i) for i, p in enumerate(pdus)]


# --- segmentation ------------------------------------------------------------------------------------


def test_empty_text_is_one_empty_gsm7_part():
    assert segment("") == Segmentation("gsm7", ("",))
    assert segment("").part_count == 1


@pytest.mark.parametrize(("length", "parts"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm7_boundaries(length, parts):
    seg = segment("a" * length)
    assert seg.encoding == "gsm7"
    assert seg.part_count == parts
    assert "".join(seg.parts) == "a" * length
    assert all(len(p) <= 153 for p in seg.parts) or parts == 1


def test_gsm7_two_full_parts_are_153_each():
    seg = segment("b" * 306)
    assert [len(p) for p in seg.parts] == [153, 153]


def test_extension_chars_count_two_septets():
    assert segment("€" * 80).part_count == 1  # 160 septets
    seg = segment("€" * 81)  # 162 septets
    assert seg.encoding == "gsm7"
    assert seg.part_count == 2
    assert [len(p) for p in seg.parts] == [76, 5]  # 76*2 = 152: a 77th '€' would need septets 153-154


def test_extension_char_at_part_boundary_moves_whole_to_next_part():
    text = "a" * 152 + "[" + "b" * 20  # '[' would take septets 153 and 154
    seg = segment(text)
    assert seg.parts == ("a" * 152, "[" + "b" * 20)


def test_extension_char_that_fits_exactly_stays():
    text = "a" * 151 + "]" + "b" * 20  # septets 152-153
    assert segment(text).parts == ("a" * 151 + "]", "b" * 20)


@pytest.mark.parametrize(("length", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(length, parts):
    text = "ж" * length
    seg = segment(text)
    assert seg.encoding == "ucs2"
    assert seg.part_count == parts
    assert "".join(seg.parts) == text


def test_emoji_count_two_units():
    assert segment(EMOJI * 35).part_count == 1  # 70 units
    assert segment(EMOJI * 35 + "a").part_count == 2


def test_emoji_at_part_boundary_not_split():
    text = "ж" * 66 + EMOJI + "ж" * 10  # the emoji would take units 67 and 68
    seg = segment(text)
    assert seg.parts == ("ж" * 66, EMOJI + "ж" * 10)
    for part in seg.parts:
        part.encode("utf-8")  # no lone surrogate anywhere


def test_greek_capitals_are_gsm7_lowercase_are_not():
    assert segment(GREEK_CAPITALS_IN_GSM7).encoding == "gsm7"
    assert segment("Καλημέρα").encoding == "ucs2"  # lowercase Greek
    assert segment("ΑΒΓ").encoding == "ucs2"  # Greek Alpha/Beta look Latin but are not in the table


@pytest.mark.parametrize("char", ["ç", "ÿ", "`", "\t", EMOJI])
def test_chars_outside_gsm7_force_ucs2(char):
    assert segment("abc" + char).encoding == "ucs2"


# --- SMS-SUBMIT ------------------------------------------------------------------------------------------


def test_golden_single_part_with_status_report():
    # The vector recorded from python-gsmmodem-new (which always sets TP-SRR in PDU mode).
    (pdu,) = build_submit_pdus("+15551234567", segment("hello"), concat_ref=0, request_status_report=True)
    assert pdu.hex == "0021000B915155214365F7000005E8329BFD06"
    assert pdu.tpdu_length == 18


def test_golden_single_part_without_status_report_clears_srr():
    (pdu,) = build_submit_pdus("+15551234567", segment("hello"), concat_ref=0, request_status_report=False)
    assert pdu.hex == "0001000B915155214365F7000005E8329BFD06"


def test_national_number_uses_toa_81():
    (pdu,) = build_submit_pdus("0612345678", segment("hi"), concat_ref=0, request_status_report=False)
    assert pdu.hex.startswith("0001000A816021436587")


def test_relative_validity_sets_vpf_and_vp():
    (pdu,) = build_submit_pdus("+15551234567", segment("hello"), concat_ref=0, request_status_report=False,
                               validity=timedelta(days=1))
    assert pdu.hex == "0011000B915155214365F70000A705E8329BFD06"  # VP 0xA7 = 24 h
    assert pdu.tpdu_length == 19


@pytest.mark.parametrize(("validity", "vp"), [
    (timedelta(minutes=5), 0x00), (timedelta(minutes=1), 0x00), (timedelta(hours=12), 0x8F),
    (timedelta(hours=13), 0x91), (timedelta(days=2), 0xA8), (timedelta(days=30), 0xC4),
    (timedelta(weeks=5), 0xC5), (timedelta(days=1000), 0xFF),
])
def test_relative_validity_table(validity, vp):
    (pdu,) = build_submit_pdus("+1", segment("x"), concat_ref=0, request_status_report=False, validity=validity)
    assert bytes.fromhex(pdu.hex)[8] == vp  # 00 SMSC, FO, MR, 01 91 1F, PID, DCS, VP


def test_multipart_gsm7_header_and_fill_bit():
    pdus = build_submit_pdus("+15551234567", segment("x" * 200), concat_ref=7, request_status_report=True)
    assert [p.tpdu_length for p in pdus] == [153, 61]  # the lengths the note recorded for 200 chars
    first = bytes.fromhex(pdus[0].hex)
    assert first[1] == 0x61  # SUBMIT | SRR | UDHI
    assert first[2] == 0x00  # TP-MR: the modem assigns it
    assert first[13] == 160  # UDL: 7 header septets + 153
    assert first[14:20] == bytes([0x05, 0x00, 0x03, 7, 2, 1])
    assert first[20] == ("x".encode()[0] << 1) & 0xFF  # first septet after one fill bit
    assert bytes.fromhex(pdus[1].hex)[14:20] == bytes([0x05, 0x00, 0x03, 7, 2, 2])


def test_multipart_ucs2_encodes_utf16():
    text = "Привет " * 20
    pdus = build_submit_pdus("+15551234567", segment(text), concat_ref=200, request_status_report=False)
    assert len(pdus) == 3
    first = bytes.fromhex(pdus[0].hex)
    assert first[12] == 0x08  # DCS UCS-2
    assert first[13] == 6 + 134  # UDL in octets
    assert first[20:] == segment(text).parts[0].encode("utf-16-be")


def test_emoji_encoded_as_surrogate_pair():
    (pdu,) = build_submit_pdus("+15551234567", segment("ok" + EMOJI), concat_ref=0, request_status_report=False)
    assert pdu.hex.endswith("0808006F006BD83DDE00")  # DCS 08, UDL 8


@pytest.mark.parametrize("number", ["", "+", "12ab", "+1 555", "++15551234567", "1" * 21])
def test_invalid_number_refused(number):
    with pytest.raises(ValueError):
        build_submit_pdus(number, segment("x"), concat_ref=0, request_status_report=False)


def test_concat_ref_must_fit_an_octet():
    with pytest.raises(ValueError):
        build_submit_pdus("+1555", segment("x" * 200), concat_ref=256, request_status_report=False)


def test_too_many_parts_refused():
    with pytest.raises(ValueError):
        build_submit_pdus("+1555", segment("x" * 153 * 256), concat_ref=1, request_status_report=False)


# --- decoding ------------------------------------------------------------------------------------------------


def test_decode_reference_deliver():
    # The widely published example (dreamfabric "SMS and the PDU format"): "How are you?"
    sms = decode_pdu("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
                     memory="SM", index=3)
    assert isinstance(sms, ReceivedSms)
    assert (sms.memory, sms.index, sms.sender, sms.text, sms.concat) == ("SM", 3, "+31641600986", "How are you?", None)
    assert sms.sent_at == datetime(2002, 8, 26, 19, 37, 41, tzinfo=timezone.utc)


def test_decode_captured_status_report():
    # Captured in python-gsmmodem issue #15 (`+CMGR: 1,,26`): zero-length SMSC, non-BCD time zone digit.
    report = decode_pdu("0006230E9126983575169498610103409544C26101034095448200", memory="SR", index=1)
    assert report == StatusReport(
        memory="SR", index=1, reference=35, recipient="+62895357614989", status=0,
        sent_at=datetime(2016, 10, 30, 4, 59, 44, tzinfo=timezone(timedelta(hours=8))),
        discharged_at=datetime(2016, 10, 30, 4, 59, 44, tzinfo=timezone(timedelta(hours=7))),
    )
    assert report.sent_at.tzinfo is not None


def test_decode_time_zone_sign():
    assert round_trip("x")[0].sent_at == datetime(2024, 2, 10, 13, 0, tzinfo=timezone.utc)  # 0x40: +01:00
    submit = build_submit_pdus("+1555", segment("x"), concat_ref=0, request_status_report=False)[0].hex
    sms = decode_pdu(submit_to_deliver(submit, scts=bytes.fromhex("42200141000029")))  # 0x29: -(1*10+2) quarters
    assert sms.sent_at == datetime(2024, 2, 10, 17, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", [
    "hello", "a" * 160, "a" * 161, "x" * 700, "€[]{}|~^\\ and \x0c page", GREEK_CAPITALS_IN_GSM7 * 20,
    "@£$¥ èéùìò Ç Øø Åå _ ÆæßÉ ¤ ¡ ÄÖÑÜ§ ¿ äöñüà", "a" * 152 + "€" + "b",
])
def test_gsm7_round_trip(text):
    parts = round_trip(text)
    assert "".join(p.text for p in parts) == text
    assert len(parts) == segment(text).part_count


@pytest.mark.parametrize("text", [
    "Привет", "ж" * 71, "Καλημέρα κόσμε " * 10, EMOJI * 35, EMOJI * 36, "ж" * 66 + EMOJI + "ж" * 10,
    "👨‍👩‍👧‍👦 family and 🇬🇷 flag " * 5,
])
def test_ucs2_round_trip(text):
    parts = round_trip(text)
    assert "".join(p.text for p in parts) == text


def test_round_trip_concat_info():
    parts = round_trip("y" * 400)
    assert [p.concat for p in parts] == [Concat(42, 3, 1), Concat(42, 3, 2), Concat(42, 3, 3)]
    assert all(p.sender == "+447911123456" for p in parts)


def test_decode_16bit_concat_ie():
    # UCS-2 "Hi" with IE 08 04 (ref 0x1234, 2 parts, part 1)
    pdu = "00" + "44" + "0B914497111234F6" + "0008" + "42200141000040" + "0B" + "0608041234020100480069"
    sms = decode_pdu(pdu)
    assert sms.text == "Hi"
    assert sms.concat == Concat(reference=0x1234, total=2, sequence=1)


def test_lone_surrogate_at_part_boundary_becomes_replacement_char():
    # A sender that cut an emoji in half (python-gsmmodem's own splitter did): high surrogate at the end.
    pdu = "00" + "04" + "0B914497111234F6" + "0008" + "42200141000040" + "04" + "0041D83D"
    sms = decode_pdu(pdu)
    assert sms.text == "A\ufffd"
    sms.text.encode("utf-8")


def test_alphanumeric_sender():
    # TOA 0xD0, "Info" packed as GSM-7 (4 chars = 28 bits → 7 semi-octets)
    pdu = "00" + "04" + "07D049B7F90D" + "0000" + "42200141000040" + "02" + "E834"
    sms = decode_pdu(pdu)
    assert sms.sender == "Info"
    assert sms.text == "hi"


def test_8bit_data_is_kept_as_labelled_hex_and_plain_ascii_as_text():
    pdu = "00" + "04" + "0B914497111234F6" + "0004" + "42200141000040" + "03" + "00FF41"
    assert decode_pdu(pdu).text == "[binary data, 3 bytes] 00ff41"
    text = "00" + "04" + "0B914497111234F6" + "0004" + "42200141000040" + "02" + "6869"
    assert decode_pdu(text).text == "hi"


def test_a_wap_push_is_recognised_by_its_port():
    udh = "0605040B8423F0"  # application ports, 16-bit: destination 2948 (WAP push), source 9200
    pdu = "00" + "44" + "0B914497111234F6" + "0004" + "42200141000040" + "0A" + udh + "000102"
    assert decode_pdu(pdu).text == "[WAP push, 3 bytes] 000102"


def test_a_nul_in_ucs2_text_becomes_its_picture():
    pdu = "00" + "04" + "0B914497111234F6" + "0008" + "42200141000040" + "04" + "00410000"
    assert decode_pdu(pdu).text == "A\u2400"


def test_invalid_time_stamp_gives_none_not_error():
    pdu = "00" + "04" + "0B914497111234F6" + "0000" + "FFFFFFFFFFFFFF" + "02" + "E834"
    assert decode_pdu(pdu).sent_at is None


@pytest.mark.parametrize("garbage", [
    "", "zz", "0", "00", "0004", "0004" + "0B914497",
    "0001000B915155214365F7000005E8329BFD06",  # SMS-SUBMIT: not something we received
    "00040B914497111234F6000042200141000040" + "FF" + "E834",  # UDL longer than the data
])
def test_garbage_raises_value_error(garbage):
    with pytest.raises(ValueError):
        decode_pdu(garbage)
