"""Pure reply parsers and the +CMS/+CME classification."""

from __future__ import annotations

import pytest

from gateway.errors import ModemFaultSendError, NoCreditSendError, PermanentSendError, TemporarySendError
from gateway.modem.replies import (
    find_line,
    parse_cmgs,
    parse_cpms_memories,
    parse_csq,
    parse_error_line,
    parse_info,
    parse_operator,
    parse_registration,
    send_error,
)


@pytest.mark.parametrize(("line", "expected"), [
    ("+CSQ: 0,0", (0, -113)),
    ("+CSQ: 17,99", (17, -79)),
    ("+CSQ: 31,0", (31, -51)),
    ("+CSQ:20,3", (20, -73)),
    ("+CSQ: 99,99", (None, None)),
])
def test_csq(line, expected):
    assert parse_csq(line) == expected


@pytest.mark.parametrize("line", ["+CSQ:", "OK", "+CSQ: x,1"])
def test_csq_malformed(line):
    with pytest.raises(ValueError):
        parse_csq(line)


@pytest.mark.parametrize(("line", "expected"), [
    ("+CREG: 0,1", "home"),
    ("+CREG: 2,5,\"1A2B\",\"01C3\",7", "roaming"),
    ("+CREG: 0,0", "not_registered"),
    ("+CREG: 0,2", "searching"),
    ("+CREG: 1,3", "denied"),
    ("+CREG: 0,4", "unknown"),
    ("+CGREG: 0,1", "home"),
    ("+CEREG: 0,7", "roaming"),
    ("+CREG: 5", "roaming"),  # unsolicited form: <stat> only
    ("+CREG: 1,\"1A2B\",\"01C3\"", "home"),  # unsolicited with location: first field is <stat>
    ("+CREG: 0,42", "unknown"),
])
def test_registration(line, expected):
    assert parse_registration(line) == expected


def test_registration_malformed():
    with pytest.raises(ValueError):
        parse_registration("+CSQ: 1,2")


@pytest.mark.parametrize(("line", "expected"), [
    ('+COPS: 0,0,"Vodafone UK",7', "Vodafone UK"),
    ('+COPS: 0,2,"23415"', "23415"),
    ("+COPS: 0", None),
    ('+COPS: 0,0,""', None),
])
def test_operator(line, expected):
    assert parse_operator(line) == expected


@pytest.mark.parametrize(("line", "expected"), [
    ('+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")', ("SM", "ME", "SR")),
    ('+CPMS: (("SM","BM","SR"),("SM"))', ("SM", "BM", "SR")),
    ('+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM"),("ME","SM")', ("ME", "MT", "SM", "SR")),
    ('+CPMS: "SM","ME"', ("SM", "ME")),
    ("+CPMS: (),(),()", ()),
])
def test_cpms(line, expected):
    assert parse_cpms_memories(line) == expected


def test_cmgs_and_find_line():
    assert parse_cmgs(["+CMTI: \"SM\",1", "+CMGS: 17", "OK"]) == 17
    assert parse_cmgs(["+CMGS: 255,\"24/01/01,00:00:00+00\""]) == 255
    with pytest.raises(ValueError):
        parse_cmgs(["OK"])
    with pytest.raises(ValueError):
        find_line(["OK"], "+CSQ:")


def test_info():
    assert parse_info(["SIMCOM_Ltd", "OK"]) == "SIMCOM_Ltd"
    assert parse_info(["AT+CGMR", "+CGMR: LE20B04SIM7600", "OK"], "+CGMR:") == "LE20B04SIM7600"
    assert parse_info(["Revision:1418B04SIM800L24", "OK"], "+CGMR:", "Revision:") == "1418B04SIM800L24"
    assert parse_info(["Quectel_Ltd", "Quectel_M95", "Revision: M95FAR02A08", "OK"]) == "Quectel_Ltd"
    assert parse_info(["OK"]) == ""


def test_error_line():
    assert parse_error_line("+CMS ERROR: 500") == ("CMS", 500)
    assert parse_error_line("+CME ERROR: 14") == ("CME", 14)
    assert parse_error_line("ERROR") is None


PERMANENT = [1, 21, 29, 30, 69, 96, 195, 196, 304, 305]
NO_CREDIT = [8, 10, 50]  # the network refuses our SIM (out of credit, barred): another modem may send the message
TEMPORARY = [22, 27, 28, 38, 41, 42, 47, 192, 300, 310, 322, 330, 331, 332, 500, 512, 600, 999, 11, 400]


@pytest.mark.parametrize("code", PERMANENT)
def test_cms_permanent(code):
    error = send_error("CMS", code)
    assert isinstance(error, PermanentSendError)
    assert error.error_code == code
    assert f"+CMS ERROR: {code}" in str(error)


@pytest.mark.parametrize("code", NO_CREDIT)
def test_cms_no_credit(code):
    error = send_error("CMS", code)
    assert isinstance(error, NoCreditSendError) and isinstance(error, ModemFaultSendError)
    assert "out of credit" in str(error)


@pytest.mark.parametrize("code", TEMPORARY)
def test_cms_temporary_including_unknown(code):
    error = send_error("CMS", code)
    assert isinstance(error, TemporarySendError)
    assert error.error_code == code


@pytest.mark.parametrize(("code", "permanent"), [(3, False), (14, False), (30, False), (100, False),
                                                 (24, True), (27, True)])
def test_cme(code, permanent):
    error = send_error("CME", code)
    assert isinstance(error, PermanentSendError if permanent else TemporarySendError)
    assert error.error_code == code


def test_manufacturer_codes_described():
    assert "manufacturer" in str(send_error("CMS", 515))
