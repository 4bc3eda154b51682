"""fake_modem: a modem on a pty, checked with the clients that will really talk to it (pyserial,
python-gsmmodem-new, the gammu CLI). Synchronisation is on conditions (`FakeModem.wait_for`, reading
until a final result code), never on fixed sleeps."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import serial

from fake_modem import FakeModem, SentSms, pdu, reassemble
from fake_modem.engine import Command, parse_line
from fake_modem.profiles import get_profile
from fake_modem.state import ModemState

FINAL = re.compile(rb"\r\n(OK|ERROR|COMMAND NOT SUPPORT|\+CM[ES] ERROR: \d+)\r\n$")
GAMMU = "/usr/bin/gammu"
NUMBER = "+447911123456"


# --- fixtures and helpers ----------------------------------------------------------------------

@pytest.fixture
def make_modem(modem_links):
    """One more started fake modem (conftest's `modem_links`), with these FakeModem arguments."""
    return lambda **kwargs: modem_links(1, **kwargs)[0]


@pytest.fixture
def modem(make_modem) -> FakeModem:
    return make_modem()


class Line:
    """A terminal on the modem's link: write a command, read until its final result code."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.05)

    def read_until(self, pattern: re.Pattern[bytes] | bytes, timeout_s: float = 2.0) -> bytes:
        if isinstance(pattern, bytes):
            pattern = re.compile(re.escape(pattern))
        data = b""
        deadline = time.monotonic() + timeout_s
        while not pattern.search(data):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {pattern.pattern!r}; got {data!r}")
            data += self.port.read(self.port.in_waiting or 1)
        return data

    def send(self, command: str | bytes, until: re.Pattern[bytes] | bytes = FINAL) -> bytes:
        raw = command.encode() if isinstance(command, str) else command
        self.port.write(raw + (b"\r" if isinstance(command, str) else b""))
        return self.read_until(until)

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def line(modem):
    term = Line(modem.link)
    yield term
    term.close()


def quiet(modem: FakeModem, *, cmee: int = 1) -> Line:
    """Echo off and numeric errors, as clients set the modem up."""
    term = Line(modem.link)
    term.send("ATE0")
    term.send(f"AT+CMEE={cmee}")
    return term


def submit_pdu(text: str, *, number: str = NUMBER, **kwargs) -> tuple[str, int]:
    return pdu.encode_submit(number, text, **kwargs)


# --- V.250 basics over pyserial ------------------------------------------------------------------

def test_echo_is_on_until_ate0_and_back_with_ate1(line):
    assert line.send("AT") == b"AT\r\r\nOK\r\n"
    assert line.send("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert line.send("AT") == b"\r\nOK\r\n"
    assert line.send("ATE1") == b"\r\nOK\r\n"
    assert line.send("AT") == b"AT\r\r\nOK\r\n"


def test_accepts_cr_crlf_and_lf_line_ends(modem, line):
    line.send("ATE0")
    for ending in (b"\r", b"\r\n", b"\n"):
        assert line.send(b"AT+CSQ" + ending) == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert modem.commands[-3:] == ["AT+CSQ"] * 3


def test_identification_and_imei(make_modem):
    a, b = make_modem(seed=1), make_modem(seed=1)
    term = quiet(a)
    assert term.send("AT+CGMI") == b"\r\nSIMCOM_Ltd\r\n\r\nOK\r\n"
    assert term.send("AT+CGMM") == b"\r\nSIMCOM_SIM800L\r\n\r\nOK\r\n"
    imei = re.search(rb"\r\n(\d+)\r\n", term.send("AT+CGSN")).group(1).decode()
    assert len(imei) == 15 and imei == a.imei != b.imei
    digits = [int(d) for d in imei]
    assert (sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])) % 10 == 0  # Luhn
    assert re.fullmatch(rb"\r\n\d{15}\r\n\r\nOK\r\n", term.send("AT+CIMI"))
    assert term.send("AT+CNUM") == b'\r\n+CNUM: "","+447911000001",145\r\n\r\nOK\r\n'
    term.close()


def test_sim_pin_locks_sms_and_network_commands(make_modem):
    term = quiet(make_modem(pin="1234"))
    assert term.send("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert term.send("AT+CMGL=4") == b"\r\n+CME ERROR: 11\r\n"
    assert term.send("AT+CREG?") == b"\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    assert term.send('AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    term.send("AT+CMEE=0")
    assert term.send('AT+CPIN="0000"') == b"\r\nERROR\r\n"
    assert term.send('AT+CPIN="1234"') == b"\r\nOK\r\n"
    assert term.send("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert term.send("AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    term.close()


def test_signal_registration_and_operator(modem):
    term = quiet(modem)
    assert term.send("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert term.send("AT+COPS?") == b'\r\n+COPS: 0,0,"Fake Telecom",0\r\n\r\nOK\r\n'  # <AcT> 0: a SIM800 is GSM
    modem.set_rssi(7)
    modem.set_registration(5)
    assert term.send("AT+CSQ") == b"\r\n+CSQ: 7,99\r\n\r\nOK\r\n"
    assert term.send("AT+CREG?") == b"\r\n+CREG: 0,5\r\n\r\nOK\r\n"
    term.send("AT+CREG=1")
    modem.set_registration(2)
    assert term.read_until(b"+CREG: 2\r\n") == b"\r\n+CREG: 2\r\n"
    assert term.send("AT+COPS?") == b"\r\n+COPS: 0\r\n\r\nOK\r\n"
    term.close()


def test_not_registered_modem_refuses_submits_with_cms_331(modem):
    term = quiet(modem)
    modem.set_registration(3)                                         # denied
    hex_pdu, length = submit_pdu("nowhere to go")
    term.send(f"AT+CMGS={length}", until=b"> ")
    term.port.write(hex_pdu.encode() + b"\x1a")
    assert term.read_until(FINAL) == b"\r\n+CMS ERROR: 331\r\n"
    assert modem.sent == []
    term.close()


def test_cmee_modes(modem):
    term = quiet(modem, cmee=0)
    assert term.send("AT+CMEE?") == b"\r\n+CMEE: 0\r\n\r\nOK\r\n"
    assert term.send("AT+CPIN=1234") == b"\r\nERROR\r\n"                # no PIN asked: not allowed
    term.send("AT+CMEE=2")
    assert term.send("AT+CPIN=1234") == b"\r\n+CME ERROR: 3\r\n"
    term.close()


def test_chained_commands_stop_at_first_error(modem):
    term = quiet(modem)
    assert term.send('AT+CMGF=1;+CSCS="UCS2";+CMGF?') == b"\r\n+CMGF: 1\r\n\r\nOK\r\n"
    assert term.send("AT+CMGF=0;+NOPE;+CMGF=1") == b"\r\nERROR\r\n"
    assert term.send("AT+CMGF?") == b"\r\n+CMGF: 0\r\n\r\nOK\r\n"
    term.close()


@pytest.mark.parametrize("profile, unknown", [("simcom", b"ERROR"), ("huawei", b"COMMAND NOT SUPPORT")])
def test_unknown_commands_per_profile(make_modem, profile, unknown):
    term = quiet(make_modem(profile=profile))
    assert term.send("AT+WIND?") == b"\r\n" + unknown + b"\r\n"
    assert term.send("AT+ZPAS?") == b"\r\n" + unknown + b"\r\n"
    assert term.send("AT+WIND=?") == b"\r\nERROR\r\n"
    term.close()


def test_simcom_has_no_clac_and_huawei_lists_commands_with_cr_cr_lf(make_modem):
    simcom, huawei = quiet(make_modem(profile="simcom")), quiet(make_modem(profile="huawei"))
    assert simcom.send("AT+CLAC") == b"\r\nERROR\r\n"
    listing = huawei.send("AT+CLAC")
    body = listing[2:-len(b"\r\nOK\r\n")]
    lines = body.split(b"\r\n")[:-1]
    assert b"^USSDMODE\r" in lines and all(ln.endswith(b"\r") for ln in lines)
    simcom.close()
    huawei.close()


def test_huawei_ussd_needs_ussdmode(make_modem):
    term = quiet(make_modem(profile="huawei"))
    assert term.send('AT+CUSD=1,"*100#",15') == b"\r\nERROR\r\n"
    assert term.send("AT^USSDMODE=0") == b"\r\nOK\r\n"
    answer = term.send('AT+CUSD=1,"*100#",15', until=b'15\r\n')
    assert answer == b'\r\nOK\r\n\r\n+CUSD: 0,"Your balance is 10.00",15\r\n'
    term.close()


def test_emitted_garbage_and_non_utf8_bytes_do_not_break_the_line(modem):
    term = quiet(modem)
    modem.emit(b"\xff\xfe\x80 line noise \r\n")
    assert term.read_until(b"noise \r\n").endswith(b"\xff\xfe\x80 line noise \r\n")
    term.port.write(b"\x00\xffgarbage\r")
    assert term.send("AT") == b"\r\nOK\r\n"
    term.close()


def test_hung_modem_reads_but_does_not_answer(modem):
    term = quiet(modem)
    modem.hang(True)
    term.port.write(b"AT+CGMI\r")
    assert modem.wait_for(lambda m: m.commands[-1] == "AT+CGMI", timeout_s=2)
    modem.hang(False)
    assert term.send("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"   # nothing came for AT+CGMI
    term.close()


# --- sending ---------------------------------------------------------------------------------

def test_cmgs_pdu_prompt_has_no_crlf_and_send_is_recorded(modem):
    term = quiet(modem)
    hex_pdu, length = submit_pdu("hello [€]", status_report=True)
    assert term.send(f"AT+CMGS={length}", until=b"> ") == b"\r\n> "
    term.port.write(hex_pdu.encode() + b"\x1a")
    assert term.read_until(FINAL) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert modem.sent == [SentSms(number=NUMBER, text="hello [€]", encoding="gsm7", reference=0, concat=None,
                                  status_report_requested=True, pdu=hex_pdu, mode="pdu")]
    assert modem.commands[-2:] == [f"AT+CMGS={length}", hex_pdu]
    term.close()


def test_esc_cancels_the_submit(modem):
    term = quiet(modem)
    hex_pdu, length = submit_pdu("never")
    term.send(f"AT+CMGS={length}", until=b"> ")
    term.port.write(hex_pdu.encode() + b"\x1b")
    assert term.read_until(FINAL) == b"\r\nOK\r\n"
    assert modem.sent == []
    term.close()


def test_undecodable_pdu_is_cms_304_and_not_sent(modem):
    term = quiet(modem)
    term.send("AT+CMGS=20", until=b"> ")
    term.port.write(b"00110099ZZ\x1a")
    assert term.read_until(FINAL) == b"\r\n+CMS ERROR: 304\r\n"
    assert modem.sent == [] and modem.commands[-1] == "00110099ZZ"
    term.close()


def test_text_mode_send_in_ucs2_charset(modem):
    term = quiet(modem)
    term.send("AT+CMGF=1")
    term.send('AT+CSCS="UCS2"')
    term.send("AT+CSMP=49,167,0,8")
    number_hex = NUMBER.encode("utf-16-be").hex().upper()
    term.send(f'AT+CMGS="{number_hex}"', until=b"> ")
    term.port.write("Γειά 😀".encode("utf-16-be").hex().upper().encode() + b"\x1a")
    assert term.read_until(FINAL) == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    (sms,) = modem.sent
    assert (sms.number, sms.text, sms.encoding, sms.mode, sms.status_report_requested) == \
        (NUMBER, "Γειά 😀", "ucs2", "text", True)
    term.close()


def test_message_references_wrap_at_256():
    state = ModemState(profile=get_profile("simcom"), own_number="+1", operator="x", rssi=1, registration=1,
                       pin=None, imei="1", imsi="1", latency_ms=0, report_delay_ms=0, report_status=0,
                       fail_rate=0.0, rng=__import__("random").Random(0))
    state.next_reference = 254
    assert [state.take_reference() for _ in range(4)] == [254, 255, 0, 1]


def test_set_fail_next_then_succeeds(modem):
    term = quiet(modem)
    modem.set_fail_next(2, "+CMS ERROR: 42")
    hex_pdu, length = submit_pdu("retry me")
    answers = []
    for _ in range(3):
        term.send(f"AT+CMGS={length}", until=b"> ")
        term.port.write(hex_pdu.encode() + b"\x1a")
        answers.append(term.read_until(FINAL))
    assert answers == [b"\r\n+CMS ERROR: 42\r\n"] * 2 + [b"\r\n+CMGS: 0\r\n\r\nOK\r\n"]
    assert len(modem.sent) == 1
    term.close()


def test_fail_rate_is_reproducible_with_a_seed(make_modem):
    def outcomes(modem: FakeModem) -> list[bool]:
        term = quiet(modem)
        hex_pdu, length = submit_pdu("x")
        result = []
        for _ in range(20):
            term.send(f"AT+CMGS={length}", until=b"> ")
            term.port.write(hex_pdu.encode() + b"\x1a")
            result.append(b"+CMGS" in term.read_until(FINAL))
        term.close()
        return result

    first, second = outcomes(make_modem(fail_rate=0.5, seed=7)), outcomes(make_modem(fail_rate=0.5, seed=7))
    assert first == second and 0 < sum(first) < 20


def test_latency_delays_the_submit_answer_and_urcs_wait_for_it(make_modem):
    modem = make_modem(latency_ms=300)
    term = quiet(modem)
    hex_pdu, length = submit_pdu("slow")
    term.send(f"AT+CMGS={length}", until=b"> ")
    started = time.monotonic()
    term.port.write(hex_pdu.encode() + b"\x1a")
    assert modem.wait_for(lambda m: len(m.sent) == 1, timeout_s=2)
    modem.inject_sms("+447911999999", "arrives mid-command")      # must not land inside the answer
    answer = term.read_until(b'+CMTI: "SM",1\r\n')
    assert time.monotonic() - started >= 0.3
    assert answer == b'\r\n+CMGS: 0\r\n\r\nOK\r\n\r\n+CMTI: "SM",1\r\n'
    term.close()


def test_status_report_as_cds_with_ds1(make_modem):
    modem = make_modem(report_delay_ms=10)
    term = quiet(modem)
    term.send("AT+CNMI=2,1,0,1,0")
    hex_pdu, length = submit_pdu("report me", status_report=True)
    term.send(f"AT+CMGS={length}", until=b"> ")
    term.port.write(hex_pdu.encode() + b"\x1a")
    data = term.read_until(re.compile(rb"\+CDS: \d+\r\n[0-9A-F]+\r\n"))
    report_hex = re.search(rb"\+CDS: (\d+)\r\n([0-9A-F]+)\r\n", data)
    report = pdu.decode_status_report(report_hex.group(2).decode())
    assert (report.reference, report.recipient, report.status) == (0, NUMBER, 0)
    assert int(report_hex.group(1)) == pdu.tpdu_length(report_hex.group(2).decode())
    term.close()


def test_status_report_stored_in_sr_with_cdsi_for_ds2(modem):
    term = quiet(modem)
    term.send("AT+CNMI=2,1,0,2")
    hex_pdu, length = submit_pdu("report me", status_report=False)
    term.send(f"AT+CMGS={length}", until=b"> ")
    term.port.write(hex_pdu.encode() + b"\x1a")
    term.read_until(FINAL)
    modem.send_report(0, status=0x45)
    assert term.read_until(b'+CDSI: "SR",1\r\n') == b'\r\n+CDSI: "SR",1\r\n'
    term.send('AT+CPMS="SR"')
    answer = term.send("AT+CMGR=1")
    report = pdu.decode_status_report(answer.split(b"\r\n")[2].decode())
    assert (report.reference, report.status) == (0, 0x45)
    assert list(modem.stored("SR")) == [1]
    term.close()


# --- receiving -------------------------------------------------------------------------------

def test_inject_long_sms_in_given_order_then_list_read_delete(modem):
    term = quiet(modem)
    text = "Long incoming message " * 12                                   # 264 chars -> 2 parts
    indexes = modem.inject_sms("+447911555555", text, parts_order=[1, 0], concat_ref=42)
    assert indexes == [1, 2]
    urcs = term.read_until(b'+CMTI: "SM",2\r\n')
    assert urcs == b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n'
    stored = modem.stored()
    assert [pdu.decode_deliver(s.pdu).concat for s in stored.values()] == [(42, 2, 2), (42, 2, 1)]
    listing = term.send("AT+CMGL=4").decode()
    assert re.findall(r"\+CMGL: (\d+),(\d),,(\d+)", listing) == [
        ("1", "0", str(pdu.tpdu_length(stored[1].pdu))), ("2", "0", str(pdu.tpdu_length(stored[2].pdu)))]
    read = term.send("AT+CMGR=2").decode().split("\r\n")
    assert read[1] == f"+CMGR: 1,,{pdu.tpdu_length(stored[2].pdu)}" and read[2] == stored[2].pdu
    parts = sorted((pdu.decode_deliver(s.pdu) for s in modem.stored().values()), key=lambda d: d.concat[2])
    assert "".join(p.text for p in parts) == text and parts[0].sender == "+447911555555"
    assert term.send("AT+CMGD=1") == b"\r\nOK\r\n"
    assert term.send("AT+CMGR=1") == b"\r\n+CMS ERROR: 321\r\n"
    assert term.send("AT+CMGD=1,4") == b"\r\nOK\r\n"
    assert modem.stored() == {}
    term.close()


def test_silent_inject_is_only_found_by_a_sweep(modem):
    term = quiet(modem)
    assert modem.inject_sms_silently("+447911555555", "Ωμέγα 😀") == [1]
    pdu_hex, status = modem.stored()[1]
    assert status == 0 and pdu.decode_deliver(pdu_hex).text == "Ωμέγα 😀"
    term.send("AT+CMGF=1")
    term.send('AT+CSCS="UCS2"')
    listing = term.send('AT+CMGL="ALL"').decode().split("\r\n")
    assert listing[1].startswith('+CMGL: 1,"REC UNREAD","002B0034')
    assert bytes.fromhex(listing[2]).decode("utf-16-be") == "Ωμέγα 😀"
    assert b"+CMTI" not in term.send("AT")
    term.close()


def test_cnmi_mt2_routes_sms_directly_as_cmt(modem):
    term = quiet(modem)
    term.send("AT+CNMI=2,2,0,0,0")
    assert modem.inject_sms("+447911555555", "direct") == []
    data = term.read_until(re.compile(rb"\+CMT: ,\d+\r\n[0-9A-F]+\r\n"))
    assert pdu.decode_deliver(data.split(b"\r\n")[2].decode()).text == "direct"
    assert modem.stored() == {}
    term.close()


def test_cpms_selects_memory_for_cmti_and_listing(modem):
    term = quiet(modem)
    assert term.send('AT+CPMS="ME","ME","ME"') == b"\r\n+CPMS: 0,100,0,100,0,100\r\n\r\nOK\r\n"
    modem.inject_sms("+447911555555", "to ME")
    assert term.read_until(b"\r\n+CMTI: \"ME\",1\r\n")
    assert term.send("AT+CPMS?") == b'\r\n+CPMS: "ME",1,100,"ME",1,100,"ME",1,100\r\n\r\nOK\r\n'
    assert list(modem.stored("ME")) == [1] and modem.stored("SM") == {}
    term.close()


# --- python-gsmmodem-new ----------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["simcom", "huawei"])
def test_gsmmodem_connects_sends_and_receives(make_modem, profile):
    from gsmmodem.modem import GsmModem

    modem = make_modem(profile=profile)
    received: list[str] = []
    got_sms = threading.Event()

    def on_sms(sms) -> None:
        received.append(sms.text)
        got_sms.set()

    client = GsmModem(modem.link, 115200, smsReceivedCallbackFunc=on_sms)
    client.connect()
    try:
        client.sendSms(NUMBER, "hello")
        long_text = "".join(chr(ord("a") + i % 26) for i in range(200))
        client.sendSms(NUMBER, long_text)
        assert reassemble(modem.sent) == [(NUMBER, "hello"), (NUMBER, long_text)]
        assert [s.concat[1:] if s.concat else None for s in modem.sent] == [None, (2, 1), (2, 2)]
        assert [s.reference for s in modem.sent] == [0, 1, 2]
        modem.inject_sms("+447911555555", "incoming")
        assert got_sms.wait(5) and received == ["incoming"]
        assert client.sendUssd("*100#").message == "Your balance is 10.00"
    finally:
        client.close()
    assert "AT+CNMI=2,1,0,2" in modem.commands


def test_gsmmodem_gets_delivery_report_via_cdsi(make_modem):
    from gsmmodem.modem import GsmModem

    modem = make_modem(report_delay_ms=20)
    reports = []
    got_report = threading.Event()

    def on_report(report) -> None:
        reports.append((report.reference, report.deliveryStatus))
        got_report.set()

    client = GsmModem(modem.link, 115200, smsStatusReportCallback=on_report)
    client.connect()
    try:
        client.sendSms(NUMBER, "tell me when it lands")
        assert got_report.wait(5)
        assert reports == [(0, 0)]
        assert modem.wait_for(lambda m: 'AT+CPMS="SR"' in m.commands, timeout_s=2)
    finally:
        client.close()


def test_gsmmodem_unlocks_pin(make_modem):
    from gsmmodem.modem import GsmModem

    modem = make_modem(pin="4321")
    client = GsmModem(modem.link, 115200)
    client.connect(pin="4321")
    client.close()
    assert 'AT+CPIN="4321"' in modem.commands


# --- unplug and replug ----------------------------------------------------------------------

def test_unplug_gives_io_error_and_replug_reopens_same_path(modem):
    term = quiet(modem)
    modem.inject_sms_silently("+447911555555", "survives replug")
    modem.unplug()
    assert os.path.islink(modem.link)
    with pytest.raises(serial.SerialException):
        term.port.read(1)
    term.port.close()
    modem.replug()
    again = Line(modem.link)
    assert again.send("AT") == b"AT\r\r\nOK\r\n"               # a power cycle: echo is back on
    assert len(modem.stored()) == 1
    again.close()
    modem.stop()
    assert not os.path.lexists(modem.link)
    modem.stop()                                               # idempotent
    assert not [t for t in threading.enumerate() if t.name.startswith("fake-modem:")]


# --- the PDU codec --------------------------------------------------------------------------

def test_pdu_decodes_16bit_concat_absolute_validity_and_8bit():
    when = datetime(2026, 11, 26, 10, 30, 0, tzinfo=timezone(timedelta(hours=-5)))
    udh = pdu.concat_udh(0x1234, 3, 2)
    udl, ud = pdu.encode_user_data("{brace} ~ €", "gsm7", udh)
    tpdu = bytes((0x01 | 0x18 | 0x40, 0)) + pdu.encode_address("12025550143") + bytes((0, 0)) \
        + pdu.encode_timestamp(when) + bytes((udl,)) + ud
    submit = pdu.decode_submit("00" + tpdu.hex())
    assert (submit.number, submit.text, submit.concat, submit.validity) == \
        ("12025550143", "{brace} ~ €", (0x1234, 3, 2), when)
    eight, _ = pdu.encode_submit(NUMBER, "raw\xff", alphabet="8bit")
    assert pdu.decode_submit(eight).text == "raw\xff"


def test_pdu_split_and_deliver_roundtrip():
    alphabet, parts = pdu.split_text("😀" * 40)
    assert alphabet == "ucs2" and [len(p) for p in parts] == [33, 7]
    assert pdu.split_text("€" * 81)[1] == ["€" * 76, "€" * 5]           # 2 septets each, 153 per part
    hex_pdu, _ = pdu.encode_deliver("FakeBank", "hi", alphabet="gsm7",
                                    when=datetime.now(timezone.utc), concat=(7, 2, 1))
    deliver = pdu.decode_deliver(hex_pdu)
    assert (deliver.sender, deliver.text, deliver.concat) == ("FakeBank", "hi", (7, 2, 1))


def test_reassemble_joins_parts_and_split_surrogates():
    emoji = "😀".encode("utf-16-be")
    first = emoji[:2].decode("utf-16-be", errors="surrogatepass")
    second = emoji[2:].decode("utf-16-be", errors="surrogatepass")
    sent = [SentSms(NUMBER, second + "b", "ucs2", 1, (5, 2, 2), False, "", "pdu"),
            SentSms(NUMBER, "a" + first, "ucs2", 0, (5, 2, 1), False, "", "pdu"),
            SentSms("+12025550143", "solo", "gsm7", 2, None, False, "", "pdu")]
    assert reassemble(sent) == [(NUMBER, "a😀b"), ("+12025550143", "solo")]


def test_line_parser_handles_basic_and_extended_commands():
    assert parse_line('E0V1+CMGF=0;+CPMS="ME","SM";+CSQ') == [
        Command("E", "set", "0"), Command("V", "set", "1"), Command("+CMGF", "set", "0"),
        Command("+CPMS", "set", '"ME","SM"'), Command("+CSQ", "exec")]
    assert parse_line("+CSCS=?") == [Command("+CSCS", "test")]


# --- python -m fake_modem ----------------------------------------------------------------------

def test_module_runs_until_sigterm(tmp_path):
    link = tmp_path / "cli-modem"
    proc = subprocess.Popen([sys.executable, "-m", "fake_modem", "--link", str(link), "--profile", "huawei"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout.readline().strip() == str(link)
        term = Line(str(link))
        assert term.send("AT+CGMI") == b"AT+CGMI\r\r\nhuawei\r\n\r\nOK\r\n"
        term.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert not os.path.lexists(link)


# --- Gammu ----------------------------------------------------------------------------------

needs_gammu = pytest.mark.skipif(not os.path.exists(GAMMU), reason="gammu CLI not installed (apt-get install gammu)")


def run_gammu(modem: FakeModem, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / f"gammurc-{os.path.basename(modem.link)}"
    config.write_text(f"[gammu]\ndevice = {modem.link}\nconnection = at115200\n")
    return subprocess.run([GAMMU, "-c", str(config), *args], capture_output=True, text=True, timeout=60)


@needs_gammu
@pytest.mark.parametrize("profile, manufacturer", [("simcom", "SIMCOM_Ltd"), ("huawei", "Huawei")])
def test_gammu_identify(make_modem, tmp_path, profile, manufacturer):
    modem = make_modem(profile=profile)
    result = run_gammu(modem, tmp_path, "--identify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert manufacturer in result.stdout and modem.imei in result.stdout


@needs_gammu
def test_gammu_sends_unicode_multipart(modem, tmp_path):
    text = "Καλημέρα κόσμε! Αυτό είναι ένα μακρύ μήνυμα δοκιμής 😀🎉 με ελληνικά γράμματα και πολλά emoji."
    assert len(text) > 70
    result = run_gammu(modem, tmp_path, "sendsms", "TEXT", NUMBER, "-unicode", "-autolen", "200", "-text", text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert reassemble(modem.sent) == [(NUMBER, text)]
    assert len(modem.sent) == 2 and all(s.encoding == "ucs2" for s in modem.sent)


@needs_gammu
def test_gammu_reads_injected_sms_from_storage(modem, tmp_path):
    modem.inject_sms("+447911555555", "Long incoming text for gammu. " * 7)
    modem.inject_sms_silently("+306912345678", "Ωμέγα 😀")
    result = run_gammu(modem, tmp_path, "getallsms")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 SMS parts in 3 SMS sequences" in result.stdout
    assert '"+306912345678"' in result.stdout and "Ωμέγα 😀" in result.stdout
    assert "part 2 of 2" in result.stdout


@needs_gammu
def test_gammu_sends_long_gsm7_text(modem, tmp_path):
    text = "Gammu long message [with] {escapes} and € sign. " * 8
    result = run_gammu(modem, tmp_path, "sendsms", "TEXT", NUMBER, "-len", str(len(text)), "-text", text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert reassemble(modem.sent) == [(NUMBER, text)]
    assert all(s.encoding == "gsm7" and s.concat for s in modem.sent)
