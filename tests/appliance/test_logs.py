"""Logs: JSON lines when asked, and no message body, OTP code, PDU or full phone number in them."""

import io
import json
import logging

import pytest
import requests

from gateway.appliance.logs import MaskingFilter, configure
from gateway.config import LoggingSettings, settings_from_mapping
from gateway.errors import ConfigError
from gateway.rules.masking import mask_number, mask_text
from tests.conftest import wait_until

OTP_BODY = "Your code is 482913"


@pytest.fixture
def captured():
    """Route the root logger to a string for the test (the way `smsgw` sets it up), then put it back."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()

    def start(settings: LoggingSettings, level="DEBUG"):
        configure(settings, level, stream)
        return stream

    yield start
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def test_json_lines_parse_one_by_one(captured):
    stream = captured(LoggingSettings(format="json"))
    log = logging.getLogger("smsgw.test")
    log.info("modem %s online", "modem1", extra={"modem": "modem1"})
    try:
        raise ValueError("to +447911123456 failed")
    except ValueError:
        log.exception("send failed for %s", "+447911123456")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["level"], e["logger"], e["msg"]) for e in lines] == [
        ("INFO", "smsgw.test", "modem modem1 online"), ("ERROR", "smsgw.test", "send failed for +*********456")]
    assert lines[0]["modem"] == "modem1" and lines[0]["ts"].endswith("Z")
    assert "ValueError" in lines[1]["exc"] and "7911123456" not in stream.getvalue()


def test_periodic_jobs_run_without_a_line_each(captured):
    from apscheduler.schedulers.background import BackgroundScheduler

    stream = captured(LoggingSettings(), "INFO")
    ran = []
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(lambda: ran.append(1), "interval", seconds=0.05, id="tick")
    scheduler.start()
    try:
        wait_until(lambda: len(ran) >= 3, timeout_s=5)
    finally:
        scheduler.shutdown()
    assert "tick" not in stream.getvalue() and "executed successfully" not in stream.getvalue()


def test_text_format_is_the_default():
    assert LoggingSettings().format == "text" and LoggingSettings().mask_numbers
    with pytest.raises(ConfigError):
        settings_from_mapping({"logging": {"format": "yaml"}})
    assert settings_from_mapping({}, {"SMSGW_LOG_FORMAT": "json"}).logging.format == "json"


def test_masking_rules():
    assert mask_number("+447911123456") == "+44 79** ***456"
    assert mask_number("+12025550143") == "+1 20** ***143"
    pdu = "0011000C914497111234560000AA13D9775D0E9A36A72E90F1FD06B5CB6E3619"
    masked = mask_text(f"AT+CMGS=31 then {pdu} to 07911 123456 on port 8080, +CMS ERROR: 500")
    assert pdu not in masked and "<pdu 32 octets>" in masked
    assert "07911 123456" not in masked and "456" in masked
    assert "8080" in masked and "500" in masked and "AT+CMGS=31" in masked
    kept = mask_text(f"to +447911123456: {pdu}", mask_numbers=False)
    assert "+447911123456" in kept and pdu not in kept


def test_a_filter_masks_records_of_any_logger():
    record = logging.LogRecord("gsmmodem.modem", logging.DEBUG, __file__, 1, "write: %s", ("+447911123456",), None)
    MaskingFilter().filter(record)
    assert record.getMessage() == "write: +*********456"


def test_a_send_through_the_pool_leaks_no_body_or_number(captured, gateway_factory):
    stream = captured(LoggingSettings(format="text"), level="DEBUG")
    gateway, fakes, token = gateway_factory(1)
    base, headers = f"http://127.0.0.1:{gateway.port}", {"Authorization": f"Bearer {token}"}
    wait_until(lambda: requests.get(f"{base}/healthz", timeout=10).status_code == 200)
    fakes[0].set_fail_next(1, "+CMS ERROR: 1")  # a refused send: error paths log too
    requests.post(f"{base}/api/v1/messages", json={"to": "+447911123457", "body": "Code 482913 for Ann"},
                  headers=headers, timeout=10)
    uid = requests.post(f"{base}/api/v1/messages", json={"to": "+447911123456", "body": OTP_BODY},
                        headers=headers, timeout=10).json()["id"]
    wait_until(lambda: requests.get(f"{base}/api/v1/messages/{uid}", headers=headers,
                                    timeout=10).json()["state"] == "sent")
    fakes[0].inject_sms("+12025550143", "STOP 482913")
    wait_until(lambda: requests.get(f"{base}/api/v1/inbox", headers=headers, timeout=10).json()["messages"])
    gateway.stop()
    logged = stream.getvalue()
    assert "modem1" in logged  # the pool and driver did log (at DEBUG, python-gsmmodem logs every line)
    assert "<pdu " in logged  # the PDUs python-gsmmodem logs were there, masked
    assert "API listening on http://127.0.0.1:" in logged and "CMS ERROR: 1" in logged
    for secret in ("482913", "Your code", "Ann", "7911123456", "791112345", "2025550143", fakes[0].sent[0].pdu):
        assert secret not in logged, secret
