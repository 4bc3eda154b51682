"""GsmModemDriver against the fake modem on a pty: one suite over both dialects, one test per library defect.

Nothing of ours is mocked: the driver talks AT over a real pseudo-terminal to `fake_modem`, and the tests
assert on what the modem observed (`fake.sent`, `fake.commands`, its storage).
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import datetime, timezone

import pytest

from fake_modem import PROFILES, FakeModem, reassemble
from fake_modem import pdu as fake_pdu
from gateway.errors import (
    ModemTimeout,
    ModemUnavailable,
    NoCreditSendError,
    PermanentSendError,
    SendOutcomeUnknown,
    SimPinRequired,
    TemporarySendError,
)
from gateway.modem.driver import Notice
from gateway.modem.gsmmodem import GsmModemDriver
from gateway.modem.pdu import build_submit_pdus
from gateway.rules.text import segment
from gateway.values import ReceivedSms, StatusReport, UnreadableSms

pytestmark = pytest.mark.timeout(20)

TIMEOUT_S = 0.5  # command timeout in tests: the fake answers in microseconds
RECIPIENT = "+447911123456"
SENDER = "+306912345678"


class Notices:
    """The on_notice sink: a queue, like the pool worker's, plus helpers to wait on it."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Notice] = queue.Queue()
        self.seen: list[Notice] = []

    def __call__(self, notice: Notice) -> None:
        self.queue.put(notice)

    def wait(self, predicate, timeout_s: float = 2.0) -> Notice:
        deadline = time.monotonic() + timeout_s
        for notice in self.seen:
            if predicate(notice):
                return notice
        while (left := deadline - time.monotonic()) > 0:
            try:
                notice = self.queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(notice)
            if predicate(notice):
                return notice
        raise AssertionError(f"no matching notice within {timeout_s} s; saw {self.seen}")

    def drain(self) -> list[Notice]:
        while True:
            try:
                self.seen.append(self.queue.get_nowait())
            except queue.Empty:
                return self.seen


@pytest.fixture(params=sorted(PROFILES))
def profile(request) -> str:
    return request.param


@pytest.fixture
def link(tmp_path) -> str:
    return str(tmp_path / "modem0")


@pytest.fixture
def fake(link, profile):
    modem = FakeModem(link=link, profile=profile, seed=1, report_delay_ms=20).start()
    yield modem
    modem.stop()


@pytest.fixture
def notices() -> Notices:
    return Notices()


@pytest.fixture
def driver(fake, notices):
    drv = GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S)
    drv.open()
    yield drv
    drv.close()


def send_text(driver: GsmModemDriver, text: str, *, ref: int = 9, report: bool = False, number: str = RECIPIENT):
    pdus = build_submit_pdus(number, segment(text), concat_ref=ref, request_status_report=report)
    return [driver.send_pdu(p, timeout_s=2) for p in pdus]


def emit_when(fake: FakeModem, predicate, data: bytes) -> threading.Thread:
    """Emit raw bytes from a helper thread once the fake has observed something (e.g. a command)."""
    thread = threading.Thread(target=lambda: fake.wait_for(predicate, 2) and fake.emit(data), name="emit_when")
    thread.start()
    return thread


# --- the contract ----------------------------------------------------------------------------------------


def test_open_reports_identity(fake, notices, profile):
    with GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S) as drv:
        info = drv.open()
        assert drv.is_alive()
    assert info.manufacturer == PROFILES[profile].manufacturer
    assert info.model and info.revision and not info.revision.startswith("Revision")
    assert info.imei == fake.imei
    assert info.imsi and info.imsi.isdigit()
    assert not drv.is_alive()
    assert "AT+CMGF=0" in fake.commands


def test_close_is_idempotent(driver):
    driver.close()
    driver.close()
    assert not driver.is_alive()
    with pytest.raises(ModemUnavailable):
        driver.status()


def test_port_is_opened_exclusively(driver, fake, notices):
    second = GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S)
    with pytest.raises(ModemUnavailable):
        second.open()
    assert driver.status().registration == "home"


def test_status(driver, fake):
    status = driver.status()
    assert (status.rssi, status.signal_dbm, status.registration, status.operator) == (20, -73, "home", "Fake Telecom")
    fake.set_rssi(99)
    fake.set_registration(5)
    status = driver.status()
    assert (status.rssi, status.signal_dbm, status.registration) == (None, None, "roaming")


def test_status_counts_the_receive_memory_and_garbage_is_read_as_unreadable(link, profile, notices):
    with FakeModem(link=link, profile=profile, seed=1, storage_capacity={"SM": 3, "ME": 3}) as fake:
        with GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S) as driver:
            assert (driver.status().storage_used, driver.status().storage_total) == (0, 3)
            fake.inject_sms_silently(SENDER, "one")
            fake.inject_pdu("0004Z0B")
            fake.inject_sms_silently(SENDER, "two")
            assert (driver.status().storage_used, driver.status().storage_total) == (3, 3)
            items = driver.read_stored()
            assert [s.text for s in items if isinstance(s, ReceivedSms)] == ["one", "two"]
            [garbage] = [s for s in items if isinstance(s, UnreadableSms)]
            assert (garbage.pdu_hex, garbage.index) == ("0004Z0B", 2) and "not hex" in garbage.reason
            driver.delete_stored(garbage)
            assert driver.status().storage_used == 2


def test_send_single_part(driver, fake):
    (receipt,) = send_text(driver, "hello")
    (sent,) = fake.sent
    assert (sent.number, sent.text, sent.encoding, sent.reference) == (RECIPIENT, "hello", "gsm7", receipt.reference)
    assert not sent.status_report_requested


# --- one test per library defect --------------------------------------------------------------------------


def test_cmti_during_command_still_noticed(link, profile, notices):
    # The +CMTI lands between AT+CMGS's PDU and its answer (send latency): the library swallowed it into
    # the response. It must come out as a Notice and leave the +CMGS reply intact.
    with FakeModem(link=link, profile=profile, seed=1, latency_ms=300) as fake:
        driver = GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S)
        driver.open()
        try:
            memory = "ME"
            (index,) = fake.inject_sms_silently(SENDER, "arrived mid-command")
            (pdu,) = build_submit_pdus(RECIPIENT, segment("x"), concat_ref=0, request_status_report=False)
            helper = emit_when(fake, lambda m: m.commands[-1:] == [pdu.hex],
                               f'\r\n+CMTI: "{memory}",{index}\r\n'.encode())
            receipt = driver.send_pdu(pdu, timeout_s=2)
            helper.join()
            assert receipt.reference == fake.sent[-1].reference
            notice = notices.wait(lambda n: n.kind == "sms_stored")
            assert (notice.memory, notice.index) == (memory, index)
            assert [s.text for s in driver.read_stored() if isinstance(s, ReceivedSms)] == ["arrived mid-command"]
        finally:
            driver.close()


def test_cmti_burst_all_found_by_sweep(driver, fake, notices):
    text = "burst " * 70  # 420 septets, 3 parts: 3 back-to-back +CMTI (the library handled only the first)
    indexes = fake.inject_sms(SENDER, text)
    indexes += fake.inject_sms_silently(SENDER, "no URC at all")
    assert len(indexes) == 4
    for index in indexes[:3]:
        notices.wait(lambda n, i=index: n.kind == "sms_stored" and n.index == i)
    stored = [s for s in driver.read_stored() if isinstance(s, ReceivedSms)]
    assert sorted(s.index for s in stored) == sorted(indexes)
    parts = sorted((s for s in stored if s.concat), key=lambda s: s.concat.sequence)
    assert [p.concat.total for p in parts] == [3, 3, 3]
    assert "".join(p.text for p in parts) == text
    assert {s.text for s in stored if not s.concat} == {"no URC at all"}
    # The library's per-URC thread would have read (AT+CMGR) and deleted (AT+CMGD) from the port by itself.
    assert not [c for c in fake.commands if c.startswith(("AT+CMGR", "AT+CMGD"))]


def test_non_utf8_byte_does_not_kill_reader(driver, fake, notices):
    fake.emit(b"\r\n\xff\xfe\x80 noise \xc3\r\n")
    fake.emit(b'\r\n+CMTI: "ME",\xff\r\n')  # a mangled URC is dropped, not fatal
    fake.inject_sms(SENDER, "still listening")
    notices.wait(lambda n: n.kind == "sms_stored")
    assert driver.is_alive()
    assert driver.status().registration == "home"
    assert not [n for n in notices.drain() if n.kind == "fatal"]


def test_unplug_marks_not_alive_and_reopen_works(driver, fake, notices, link):
    fake.unplug()
    fatal = notices.wait(lambda n: n.kind == "fatal")
    assert fatal.detail
    assert not driver.is_alive()
    with pytest.raises(ModemUnavailable):
        send_text(driver, "into the void")
    started = time.monotonic()
    driver.close()
    assert time.monotonic() - started < 1.0
    fake.replug()
    driver.open()
    assert driver.is_alive()
    send_text(driver, "back")
    assert [s.text for s in fake.sent] == ["back"]
    fresh = GsmModemDriver(link, on_notice=notices, command_timeout_s=TIMEOUT_S)
    driver.close()
    assert fresh.open().imei == fake.imei
    fresh.close()


def test_hang_times_out_and_resyncs(driver, fake):
    fake.hang(True)
    (pdu,) = build_submit_pdus(RECIPIENT, segment("lost"), concat_ref=0, request_status_report=False)
    started = time.monotonic()
    with pytest.raises(ModemTimeout) as caught:
        driver.send_pdu(pdu, timeout_s=TIMEOUT_S)
    assert time.monotonic() - started < 2.5
    assert not isinstance(caught.value, SendOutcomeUnknown)  # no prompt: the PDU was never written
    commands = fake.commands
    cmgs = len(commands) - 1 - commands[::-1].index(f"AT+CMGS={pdu.tpdu_length}")
    assert "AT" in commands[cmgs + 1 :]  # ESC + AT resync went out after the failed send
    fake.hang(False)
    assert driver.status().registration == "home"
    send_text(driver, "after the hang")
    assert [s.text for s in fake.sent] == ["after the hang"]


def test_late_answer_times_out_and_resyncs(link, profile, notices):
    # The +CMGS answer comes after we gave up: SendOutcomeUnknown (the part may be out), and the
    # late "+CMGS: n / OK" must not be taken as the answer to the next command.
    with FakeModem(link=link, profile=profile, seed=1, latency_ms=int(TIMEOUT_S * 1000 * 1.5)) as fake:
        with GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S) as driver:
            driver.open()
            (pdu,) = build_submit_pdus(RECIPIENT, segment("slow"), concat_ref=0, request_status_report=False)
            with pytest.raises(SendOutcomeUnknown):  # a ModemTimeout: the pool marks the part unknown
                driver.send_pdu(pdu, timeout_s=TIMEOUT_S)
            assert [s.text for s in fake.sent] == ["slow"]
            status = driver.status()
            assert (status.rssi, status.registration, status.operator) == (20, "home", "Fake Telecom")
            (receipt,) = send_text(driver, "next")
            assert receipt.reference == fake.sent[-1].reference != fake.sent[0].reference
            assert driver.is_alive()


def test_a_cmgs_whose_ok_is_lost_is_a_sent_part_not_an_unknown_one(driver, fake, caplog):
    # Line noise ate the final OK after "+CMGS: <mr>": the reference proves the network took the part, so it
    # is sent (with its reference, for the delivery report), not unknown; the modem answers the next command.
    fake.lose_final_ok(1)
    (pdu,) = build_submit_pdus(RECIPIENT, segment("ok lost"), concat_ref=0, request_status_report=True)
    receipt = driver.send_pdu(pdu, timeout_s=TIMEOUT_S)
    assert [(s.text, s.reference) for s in fake.sent] == [("ok lost", receipt.reference)]
    assert "came without its final OK" in caplog.text
    (after,) = send_text(driver, "next")
    assert [s.text for s in fake.sent] == ["ok lost", "next"] and after.reference == fake.sent[-1].reference


def test_state_urcs_become_notices(driver, fake, notices):
    # Registration per domain (the best one counts: an LTE-only modem is registered while +CREG says 0), the
    # SIM leaving and coming back in either dialect's words, and supply warnings.
    for line, kind, detail in [
        ('+CEREG: 5,"1A2B","01234567",7', "registration", "roaming"),
        ("+CREG: 0", "registration", "roaming"),
        ("+CEREG: 2", "registration", "searching"),
        ("+CGREG: 1", "registration", "home"),
        ("+CPIN: NOT READY", "sim", "absent: the modem said '+CPIN: NOT READY'"),
        ("^SIMST: 255", "sim", "absent: the modem said '^SIMST: 255'"),
        ("^SIMST: 1,0", "sim", "ready"),
        ("+CPIN: READY", "sim", "ready"),
        ("UNDER-VOLTAGE WARNNING", "power", "UNDER-VOLTAGE WARNNING"),
        ("+CFUN: 4", "restarted", "the modem said '+CFUN: 4': restarted or lost its settings"),
    ]:
        fake.emit(f"\r\n{line}\r\n".encode())
        notice = notices.wait(lambda n, k=kind: n.kind == k)
        assert notice.detail == detail, line
        notices.seen.clear()
    assert driver.status().registration == "home"  # a poll still reads the modem


@pytest.mark.parametrize("charset", ["IRA", "GSM", "UCS2"])
def test_operator_names_and_numbers_are_read_in_the_modems_character_set(link, profile, notices, charset):
    # +CSCS as the firmware powers on: 8859-1 bytes (IRA), GSM 7-bit code points (é is 0x05), or UCS2 hex.
    with FakeModem(link=link, profile=profile, seed=1, operator="Télécom Ünion España", charset=charset) as fake:
        with GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S) as driver:
            info = driver.open()
            operator = driver.status().operator
    assert operator == "Télécom Ünion España"
    assert info.own_number == "+447911000001"


def test_an_lte_only_modem_without_sms_over_ims_can_carry_no_sms(link, notices):
    # +CREG says 0 (no 2G/3G), +CEREG 1: registered, but SMS goes over IMS alone; when IMS is down, "no_sms".
    with FakeModem(link=link, profile="lte", seed=1) as fake:
        with GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S) as driver:
            assert driver.status().registration == "home"
            fake.set_ims(False)
            notices.wait(lambda n: n.kind == "registration" and n.detail == "no_sms")
            assert driver.status().registration == "no_sms"
            fake.set_ims(True)
            notices.wait(lambda n: n.kind == "registration" and n.detail == "home")


def test_bare_lf_framing_nuls_and_stray_bytes_are_read_as_clean_lines(driver, fake, notices):
    # The modem drops the CR, and the line adds a stray byte before each LF and a NUL after it: the answers,
    # the prompt, a URC and a +CMGS whose final OK is lost all still come through.
    fake.line_noise(True)
    status = driver.status()
    assert (status.registration, status.operator) == ("home", "Fake Telecom")
    (receipt,) = send_text(driver, "noisy")
    assert fake.sent[-1].reference == receipt.reference
    fake.lose_final_ok(1)
    (pdu,) = build_submit_pdus(RECIPIENT, segment("noisy, ok lost"), concat_ref=0, request_status_report=False)
    assert driver.send_pdu(pdu, timeout_s=TIMEOUT_S).reference == fake.sent[-1].reference
    fake.inject_sms(SENDER, "through the noise")
    notices.wait(lambda n: n.kind == "sms_stored")
    assert [s.text for s in driver.read_stored() if isinstance(s, ReceivedSms)] == ["through the noise"]


@pytest.mark.parametrize("stored", [{"verbose": False}, {"quiet": True, "echo": False}])
def test_connects_whatever_result_codes_the_stored_profile_gives(fake, notices, stored):
    # ATV0 (numeric results, "0<CR>") or ATQ1 (none) saved with AT&W: ATZ's answer cannot be read, and the
    # driver turns words back on before anything else.
    fake.save_profile(**stored)
    with GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=2) as driver:
        assert driver.status().registration == "home"
        (receipt,) = send_text(driver, "after ATV0/ATQ1")
    assert fake.sent[-1].reference == receipt.reference
    assert "ATE0V1Q0" in fake.commands


def test_a_failed_connect_names_the_command(link, notices):
    with FakeModem(link=link, seed=1) as fake:
        fake.hang(True)
        with pytest.raises(ModemUnavailable, match="connect failed at 'ATZ'|connect failed at 'ATE0V1Q0'"):
            GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S).open()


@pytest.mark.parametrize(("error", "cls", "code"), [
    ("+CMS ERROR: 21", PermanentSendError, 21),
    ("+CMS ERROR: 1", PermanentSendError, 1),
    ("+CMS ERROR: 8", NoCreditSendError, 8),  # our SIM refused (out of credit): another modem may send it
    ("+CMS ERROR: 500", TemporarySendError, 500),
    ("+CMS ERROR: 42", TemporarySendError, 42),
    ("+CME ERROR: 100", TemporarySendError, 100),
    ("ERROR", TemporarySendError, None),
])
def test_cms_error_classified(driver, fake, error, cls, code):
    fake.set_fail_next(1, error)
    with pytest.raises(cls) as caught:
        send_text(driver, "refused")
    assert caught.value.error_code == code
    assert type(caught.value) is cls
    send_text(driver, "accepted")  # the modem is back in command mode, not stuck in a prompt
    assert [s.text for s in fake.sent] == ["accepted"]


def test_no_network_is_temporary(driver, fake):
    fake.set_registration(0)
    with pytest.raises(TemporarySendError) as caught:
        send_text(driver, "nowhere")
    assert caught.value.error_code == 331


@pytest.mark.parametrize("text", [
    "Καλημέρα! 😀 " * 12 + "end",  # UCS-2: emoji straddle the 67-unit boundaries
    "ж" * 66 + "😀" + "tail",  # an emoji exactly where the first part ends
    "ΔΦΓΛΩΠΨΣΘΞ " * 20 + "€",  # GSM-7 Greek capitals and an extension char
    "a" * 152 + "€" + "b" * 10,  # an extension pair at the GSM-7 part boundary
])
def test_emoji_and_greek_multipart_sent_exactly(driver, fake, text):
    receipts = send_text(driver, text)
    assert len(receipts) == segment(text).part_count > 1
    assert reassemble(fake.sent) == [(RECIPIENT, text)]
    assert {s.encoding for s in fake.sent} == {segment(text).encoding}


def test_references_per_part(driver, fake):
    receipts = send_text(driver, "r" * 400, ref=77)
    assert len(receipts) == 3
    assert [r.reference for r in receipts] == [s.reference for s in fake.sent]
    assert len({r.reference for r in receipts}) == 3
    assert [s.concat for s in fake.sent] == [(77, 3, 1), (77, 3, 2), (77, 3, 3)]


def test_read_then_delete_only_after_commit(driver, fake):
    first, second = fake.inject_sms(SENDER, "one")[0], fake.inject_sms(SENDER, "two")[0]
    listed = [s for s in driver.read_stored() if isinstance(s, ReceivedSms)]
    assert sorted(s.text for s in listed) == ["one", "two"]
    assert driver.read_stored() == listed  # reading again: still there, nothing deleted
    assert set(fake.stored("ME")) == {first, second}
    assert not any(c.startswith("AT+CMGD") for c in fake.commands)
    one = next(s for s in listed if s.text == "one")
    assert (one.memory, one.sender) == ("ME", SENDER)
    assert one.sent_at is not None and one.sent_at.tzinfo is not None
    driver.delete_stored(one)
    assert set(fake.stored("ME")) == {second}
    assert [s.text for s in driver.read_stored() if isinstance(s, ReceivedSms)] == ["two"]


def test_status_report_inline_and_stored(driver, fake, notices):
    # Stored: connect() sets +CNMI=2,1,0,2, so the fake stores the report in "SR" and says +CDSI.
    (receipt,) = send_text(driver, "report me", report=True)
    stored_notice = notices.wait(lambda n: n.kind == "report_stored")
    assert stored_notice.memory == "SR"
    reports = [s for s in driver.read_stored() if isinstance(s, StatusReport)]
    assert [(r.memory, r.reference, r.recipient, r.status) for r in reports] == [
        ("SR", receipt.reference, RECIPIENT, 0)]
    assert reports[0].discharged_at is not None
    last_cpms = [c for c in fake.commands if c.startswith("AT+CPMS=")][-1]
    assert last_cpms != 'AT+CPMS="SR"'  # the read memory is not left on the report store
    driver.delete_stored(reports[0])
    assert not [s for s in driver.read_stored() if isinstance(s, StatusReport)]
    assert [s.text for s in driver.read_stored()] == []

    # Inline (SIM800 TE routing): +CDS: <len> and the PDU on the next line, including mid-command.
    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    report_hex, length = fake_pdu.encode_status_report(200, RECIPIENT, status=0x46, submitted=when, discharged=when)
    fake.emit(f"\r\n+CDS: {length}\r\n{report_hex}\r\n".encode())
    inline = notices.wait(lambda n: n.kind == "report").report
    assert (inline.memory, inline.index, inline.reference, inline.recipient, inline.status) == (
        None, None, 200, RECIPIENT, 0x46)
    assert inline.sent_at == when
    assert driver.status().registration == "home"


def test_pin_required_without_pin_raises_SimPinRequired(link, profile, notices):
    with FakeModem(link=link, profile=profile, seed=1, pin="1234") as fake:
        driver = GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S)
        with pytest.raises(SimPinRequired):
            driver.open()
        assert not driver.is_alive()
        wrong = GsmModemDriver(fake.link, pin="0000", on_notice=notices, command_timeout_s=TIMEOUT_S)
        with pytest.raises(SimPinRequired):
            wrong.open()
        assert not wrong.is_alive()


def test_pin_unlocks(link, profile, notices):
    with FakeModem(link=link, profile=profile, seed=1, pin="1234") as fake:
        with GsmModemDriver(fake.link, pin="1234", on_notice=notices, command_timeout_s=TIMEOUT_S) as driver:
            assert 'AT+CPIN="1234"' in fake.commands
            send_text(driver, "unlocked")
            assert [s.text for s in fake.sent] == ["unlocked"]


def test_open_on_missing_port_is_unavailable(tmp_path, notices):
    driver = GsmModemDriver(str(tmp_path / "nothing"), on_notice=notices, command_timeout_s=TIMEOUT_S)
    with pytest.raises(ModemUnavailable):
        driver.open()
    driver.close()


def test_open_against_hung_modem_is_unavailable(fake, notices):
    fake.hang(True)
    driver = GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S)
    started = time.monotonic()
    with pytest.raises(ModemUnavailable):
        driver.open()
    assert time.monotonic() - started < 2.0  # the library's own 10-15 s timeouts are capped to ours
    assert not driver.is_alive()
    fake.hang(False)
    assert driver.open().imei == fake.imei
    driver.close()


def test_unplug_after_pdu_written_is_outcome_unknown(link, profile, notices):
    with FakeModem(link=link, profile=profile, seed=1, latency_ms=500) as fake:
        with GsmModemDriver(fake.link, on_notice=notices, command_timeout_s=TIMEOUT_S) as driver:
            driver.open()
            (pdu,) = build_submit_pdus(RECIPIENT, segment("maybe"), concat_ref=0, request_status_report=False)
            helper = threading.Thread(
                target=lambda: fake.wait_for(lambda m: m.commands[-1:] == [pdu.hex], 2) and fake.unplug())
            helper.start()
            started = time.monotonic()
            with pytest.raises(SendOutcomeUnknown):
                driver.send_pdu(pdu, timeout_s=2)
            helper.join()
            assert time.monotonic() - started < 1.0  # woken by the reader's failure, not the 2 s timeout
            assert not driver.is_alive()


def test_work_given_for_meanwhile_runs_after_the_pdu_is_written_and_before_the_answer(tmp_path):
    """The worker's bookkeeping runs while the modem sends: after the PDU reached it, before its answer, which is
    waited for as long as without it (the send timeout, not the shorter command timeout). Work that fails, or
    outlasts the answer, leaves the receipt as the modem gave it."""
    fake = FakeModem(link=str(tmp_path / "slow"), latency_ms=800).start()  # longer than TIMEOUT_S
    driver = GsmModemDriver(fake.link, on_notice=Notices(), command_timeout_s=TIMEOUT_S)
    try:
        driver.open()
        [pdu] = build_submit_pdus(RECIPIENT, segment("hello"), concat_ref=1, request_status_report=False)
        seen: list[tuple[int, float]] = []

        def meanwhile() -> None:
            assert fake.wait_for(lambda f: len(f.sent) == 1, 2)  # the PDU is at the modem
            seen.append((len(fake.sent), time.monotonic()))

        receipt = driver.send_pdu(pdu, timeout_s=2, meanwhile=meanwhile)
        answered = time.monotonic()
        assert receipt.reference == fake.sent[0].reference
        assert len(seen) == 1 and answered - seen[0][1] > 0.5  # ran once, well before the 800 ms answer came

        def failing() -> None:
            time.sleep(1.0)  # longer than the modem takes to answer: the answer waits in the reader's hands
            raise RuntimeError("the database went away")

        assert driver.send_pdu(pdu, timeout_s=2, meanwhile=failing).reference == fake.sent[1].reference
        assert driver.send_pdu(pdu, timeout_s=2).reference == fake.sent[2].reference  # the line is in step
    finally:
        driver.close()
        fake.stop()
