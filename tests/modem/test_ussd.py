"""USSD, the SIM's own number, the balance and refused calls: the real driver over a pty fake modem, and the
whole gateway over real HTTP. The API hands each USSD request to the modem's worker thread."""

from __future__ import annotations

import pytest
import requests

from gateway.config import ModemSettings
from gateway.errors import UssdError, UssdTimeout
from gateway.modem import replies
from gateway.modem.gsmmodem import GsmModemDriver
from tests.conftest import wait_until


@pytest.fixture
def driver_on(modem_links):
    opened = []

    def open_driver(**fake_kwargs):
        [fake] = modem_links(1, **fake_kwargs)
        notices = []
        driver = GsmModemDriver(fake.link, on_notice=notices.append, command_timeout_s=2)
        info = driver.open()
        opened.append(driver)
        return fake, driver, info, notices

    yield open_driver
    for driver in opened:
        driver.close()


# --- pure parsers --------------------------------------------------------------------------------------------

def test_cusd_lines_keep_commas_and_decode_ucs2():
    assert replies.parse_cusd('+CUSD: 0,"Balance: 10,50 EUR, valid to 1.1.",15') == (
        0, "Balance: 10,50 EUR, valid to 1.1.", 15)
    assert replies.parse_cusd("+CUSD: 4") == (4, None, None)
    assert replies.decode_ussd_text("00420061006C0061006E00630065", 72) == "Balance"
    assert replies.decode_ussd_text("1234", 15) == "1234"  # digits are not UCS-2 unless the DCS says so


def test_cnum_gives_the_number_with_plus_for_international_type():
    assert replies.parse_cnum(['+CNUM: "","447911000001",145', "OK"]) == "+447911000001"
    assert replies.parse_cnum(['+CNUM: "Own","07911000001",129']) == "07911000001"
    assert replies.parse_cnum(['+CNUM: "","",129']) is None and replies.parse_cnum(["OK"]) is None


# --- the driver -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["simcom", "huawei"])
def test_driver_ussd_returns_the_networks_answer_from_the_cusd_urc(driver_on, profile):
    fake, driver, info, _ = driver_on(profile=profile)
    assert driver.ussd("*100#", 3) == "Your balance is 10.00"
    assert 'AT+CUSD=1,"*100#",15' in fake.commands
    fake.set_ussd_reply("*123#", "Menu, 1 Balance, 2 Bundles")
    assert driver.ussd("*123#", 3) == "Menu, 1 Balance, 2 Bundles"


def test_driver_ussd_timeout_when_the_network_never_answers(driver_on):
    fake, driver, _, _ = driver_on()
    fake.set_ussd_reply("*100#", None)
    with pytest.raises(UssdTimeout):
        driver.ussd("*100#", 0.5)
    assert fake.commands[-1] == "AT+CUSD=2"  # the session was ended
    assert driver.ussd("*101#", 3) == "You have 500 free SMS left"  # and the modem still serves


def test_driver_ussd_refused_when_not_registered(driver_on):
    fake, driver, _, _ = driver_on(registration=0)
    with pytest.raises(UssdError, match="refused"):
        driver.ussd("*100#", 1)


def test_driver_reads_the_sims_own_number_at_open(driver_on):
    _, _, info, _ = driver_on(own_number="+447911000042")
    assert info.own_number == "+447911000042"


def test_ring_and_clip_become_a_call_notice_and_reject_call_hangs_up(driver_on):
    fake, driver, _, notices = driver_on()
    fake.ring("+447911123456")
    wait_until(lambda: any(n.kind == "call" and n.detail == "+447911123456" for n in notices))
    assert fake.ringing == "+447911123456"
    driver.reject_call()
    assert fake.ringing is None and "ATH" in fake.commands


# --- the whole gateway --------------------------------------------------------------------------------------

@pytest.fixture
def running(gateway_factory, settings):
    remade = []

    def start(count=1, *, balance_ussd="", ussd_timeout_s=2.0, **fake_kwargs):
        pool = settings.pool.__class__(**{**settings.pool.__dict__, "ussd_timeout_s": ussd_timeout_s})
        gateway, fakes, token = gateway_factory(count, settings_override=settings.replace(pool=pool), **fake_kwargs)
        if balance_ussd:  # re-made with the balance code: the factory names the modems modem1..n
            gateway.stop()
            modems = tuple(ModemSettings(name=m.name, port=m.port, balance_ussd=balance_ussd)
                           for m in gateway.settings.modems)
            from gateway.appliance.runtime import Gateway

            gateway = Gateway(gateway.settings.replace(modems=modems)).start()
            remade.append(gateway)
            token = gateway.service.keys.create_key("ussd", ["admin"])[1]
        base = f"http://127.0.0.1:{gateway.port}/api/v1"
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        wait_until(lambda: all(m["state"] == "online" for m in session.get(f"{base}/modems").json()["modems"]))
        return gateway, fakes, session, base

    yield start
    for gateway in remade:
        gateway.stop()


def test_ussd_over_the_api_is_answered_by_the_modems_worker(running):
    gateway, [fake], session, base = running()
    response = session.post(f"{base}/modems/modem1/ussd", json={"code": "*100#"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"modem": "modem1", "code": "*100#", "reply": "Your balance is 10.00"}
    assert 'AT+CUSD=1,"*100#",15' in fake.commands

def test_ussd_timeout_is_504_with_a_clear_code_and_the_modem_keeps_working(running):
    gateway, [fake], session, base = running(ussd_timeout_s=0.5)
    fake.set_ussd_reply("*100#", None)
    response = session.post(f"{base}/modems/modem1/ussd", json={"code": "*100#"}, timeout=10)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "ussd_timeout"
    created = gateway.service.messages.send("+447911123456", "still sending")[0]
    wait_until(lambda: gateway.service.messages.get_message(created.uid).state.value == "sent")


def test_ussd_refusals_unknown_modems_bad_codes_and_scopes(running):
    gateway, [fake], session, base = running()
    assert session.post(f"{base}/modems/nope/ussd", json={"code": "*100#"}).status_code == 404
    bad = session.post(f"{base}/modems/modem1/ussd", json={"code": "*100#; AT+CFUN=0"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "code"
    assert session.post(f"{base}/modems/modem1/ussd", json={}).status_code == 400
    reader = gateway.service.keys.create_key("reader", ["read"])[1]
    denied = requests.post(f"{base}/modems/modem1/ussd", json={"code": "*100#"},
                           headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403
    fake.set_registration(3)  # denied: the network refuses USSD
    refused = session.post(f"{base}/modems/modem1/ussd", json={"code": "*100#"}, timeout=10)
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "ussd_failed"


def test_own_number_and_balance_show_in_the_api_and_on_the_status_feed(running):
    gateway, [fake], session, base = running(balance_ussd="*100#", own_number="+447911000077")
    modem = wait_until(lambda: (m := session.get(f"{base}/modems").json()["modems"][0])["balance"] and m)
    assert modem["own_number"] == "+447911000077"
    assert modem["balance"] == "Your balance is 10.00" and modem["balance_checked_at"].endswith("Z")
    from gateway.core.admin_auth import AdminAuth
    from tests.web.test_status_page import log_in

    AdminAuth(gateway.store).set_password("correct horse battery")
    browser = gateway.app.test_client()
    log_in(browser, "correct horse battery")
    [card] = browser.get("/status.json").get_json()["modems"]
    assert card["own_number"] == "+447911000077" and card["balance"] == "Your balance is 10.00"
    assert card["credit"] is None  # no currency in the operator's words: the card shows them as they came


def test_an_incoming_call_is_refused_by_the_worker(running):
    gateway, [fake], session, base = running()
    fake.ring("+447911123456")
    wait_until(lambda: fake.ringing is None)
    assert "ATH" in fake.commands
