"""The status page in a real headless Chromium (Debian's, driven by Playwright) against a whole gateway over two
fake modems: log in, see both modems online, send a test SMS from the page and watch it reach `sent`."""

import dataclasses
import socket
from datetime import timedelta

import pytest

from gateway.appliance.demo import DemoModems
from gateway.config import RoutingSettings, UpstreamSettings
from gateway.core.admin_auth import AdminAuth
from gateway.values import MessageState
from tests.conftest import wait_until
from tests.web.pages import (ARTIFACTS, PASSWORD, accessibility_violations, logged_in, needs_chromium, shoot,
                             submit_login)

pytestmark = needs_chromium


def test_operator_logs_in_sees_modems_and_sends_a_test_sms(browser, gateway_factory):
    gateway, fakes, _ = gateway_factory(2)
    gateway.app.extensions["smsgw.demo"] = DemoModems({"modem1": fakes[0], "modem2": fakes[1]})  # as `smsgw demo`
    AdminAuth(gateway.store).set_password(PASSWORD)
    wait_until(lambda: {m.state.value for m in gateway.service.modems.list_modems()} == {"online"}
               and len(gateway.service.modems.list_modems()) == 2)
    fakes[1].inject_sms("+447911123456", "Please call me back")
    fakes[0].inject_pdu("0004Z0B")  # not a PDU: kept raw in quarantine, counted on the page
    fakes[0].inject_sms("+447911123458", "x" * 200, parts_order=[0])  # its second part is still on its way
    wait_until(lambda: gateway.service.messages.list_inbox()[0] and gateway.service.messages.list_quarantine()[0]
               and gateway.service.messages.waiting_parts())
    base = f"http://127.0.0.1:{gateway.port}"

    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/")
    assert page.url == f"{base}/login"
    submit_login(page, "wrong password")
    page.wait_for_selector("text=Wrong password.")
    shoot(page, "login")
    submit_login(page, PASSWORD)
    page.wait_for_url(f"{base}/")

    page.wait_for_selector('article.modem[data-modem="modem2"][data-state="online"]')
    assert page.locator('article.modem[data-state="online"]').count() == 2
    assert page.locator("#modem-summary").inner_text() == "2 of 2 online"
    assert page.locator("#inbound tbody tr").first.inner_text().startswith("+44 79** ***456")
    assert page.locator("#quarantined").inner_text() == "1 unreadable SMS kept raw"
    assert page.locator("#waiting").inner_text() == "1 SMS waiting for parts"
    assert page.locator('#modems [data-modem="modem1"] .storage').inner_text().endswith("of 100")

    page.select_option("#test-modem", "modem2")
    page.fill("#test-to", "+447911123457")
    page.fill("#test-body", "smsgw test from the status page")
    page.click("#test-sms button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=queued on modem2")
    sent_row = page.wait_for_selector('#outbound tr[data-state="sent"]', timeout=15_000)
    assert "+44 79** ***457" in sent_row.inner_text() and "modem2" in sent_row.inner_text()
    assert [s.text for s in fakes[1].sent] == ["smsgw test from the status page"]
    wait_until(lambda: page.locator('#modems [data-modem="modem2"] .sent-today').inner_text() == "1",
               timeout_s=15)

    page.select_option("#demo-modem", "modem2")
    page.fill("#demo-text", "Running late, sorry")
    page.click("#demo-inbound button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=An SMS from +447911123456 arrived on modem2.")
    wait_until(lambda: any(m.text == "Running late, sorry" for m in gateway.service.messages.list_inbox()[0]))

    sent_row = page.wait_for_selector('#outbound tr[data-state="sent"]', timeout=15_000)
    sent_row.query_selector("button.link").click()  # the body only on request
    page.wait_for_selector("#outbound .body-row >> text=smsgw test from the status page")
    page.wait_for_function("document.querySelectorAll('#chart canvas').length > 0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status_page.png"), full_page=True)
    assert accessibility_violations(page) == []

    later = (gateway.service.clock() + timedelta(hours=2)).isoformat()
    gateway.service.messages.send("+447911123459", "a reminder for later", send_at=later)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.wait_for_timeout(300)  # the chart redraws after a debounced resize
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    cancel = page.wait_for_selector('#outbound tr[data-state="scheduled"] button.btn-danger', timeout=15_000)
    box = cancel.bounding_box()
    assert box["x"] + box["width"] <= 390  # the row's action is on the screen, not clipped
    page.screenshot(path=str(ARTIFACTS / "status_page_phone.png"), full_page=True)
    assert accessibility_violations(page) == []
    page.goto(f"{base}/no/such/page")
    page.wait_for_selector("text=Page not found")
    shoot(page, "not_found")
    assert errors == []


def test_a_receptionist_sets_up_an_auto_reply_tries_it_and_it_answers_a_real_sms(browser, gateway_factory):
    gateway, [fake], _ = gateway_factory(1)
    gateway.service.contacts.add_group("Newsletter")
    wait_until(lambda: [m.state.value for m in gateway.service.modems.list_modems()] == ["online"])
    page, errors, _ = logged_in(browser, gateway)
    page.wait_for_selector("#rules >> text=No rules yet")

    page.fill("#rule-name", "Opening hours")
    page.fill("#rule-keyword", "hours")
    page.fill("#rule-reply", "We are open 9-5, Monday to Friday.")
    page.click("#new-rule button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=Rule “Opening hours” added.")
    page.fill("#rule-name", "Everything else")
    page.fill("#rule-pattern", ".")
    page.check("#rule-follow-up")
    page.select_option("#rule-add-to-group", "Newsletter")
    page.click("#new-rule button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=Rule “Everything else” added.")
    rows = page.locator("#rules tbody tr")
    assert rows.count() == 2 and "first word “hours”" in rows.nth(0).inner_text()
    assert "add sender to Newsletter" in rows.nth(1).inner_text()

    page.fill("#rule-test-text", "Hours on Saturday?")  # live, as the receptionist types
    page.wait_for_selector("#rule-verdicts li.matched >> text=replies “We are open 9-5, Monday to Friday.”")
    assert "flags it for follow-up" in page.locator("#rule-verdicts li").nth(1).inner_text()
    assert "adds the sender to Newsletter" in page.locator("#rule-verdicts li").nth(1).inner_text()
    page.fill("#rule-test-text", "Thanks!")
    page.wait_for_selector("#rule-verdicts li.muted >> text=Opening hours: no match")
    assert fake.sent == []  # trying sends nothing

    fake.inject_sms("+447911123456", "HOURS?")
    wait_until(lambda: [s.text for s in fake.sent] == ["We are open 9-5, Monday to Friday."])
    wait_until(lambda: [c.number for c, _ in gateway.service.contacts.list_contacts()] == ["+447911123456"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#rules-panel").screenshot(path=str(ARTIFACTS / "rules_panel.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#rules-panel").screenshot(path=str(ARTIFACTS / "rules_panel_phone.png"))

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#rules tbody tr").nth(0).locator("button.btn-danger").click()
    page.wait_for_selector(".notice-ok >> text=Rule “Opening hours” deleted.")
    assert page.locator("#rules tbody tr").count() == 1
    assert errors == []


def test_an_upstream_provider_has_a_card_of_its_own_that_says_when_it_cannot_be_reached(browser, gateway_factory,
                                                                                        settings):
    with socket.socket() as closed:  # a port nobody listens on: the provider is down
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    upstream = UpstreamSettings(name="backup", kind="http", url=f"http://127.0.0.1:{port}/send")
    gateway, _, _ = gateway_factory(1, settings_override=settings.replace(upstreams=(upstream,)))
    wait_until(lambda: {m.name: m.state.value for m in gateway.service.modems.list_modems()}
               == {"modem1": "online", "backup": "offline"}, timeout_s=20)
    page, errors, _ = logged_in(browser, gateway)
    card = page.locator('article.modem[data-modem="backup"]')
    # the feed's next refresh shows it, should a reconnect attempt be under way at the first
    page.wait_for_selector('article.modem[data-modem="backup"] summary >> '
                           'text="The provider cannot be reached: is it up, and its URL right?"', timeout=15_000)
    assert "not reached yet" in card.inner_text() and "http://127.0.0.1/send" in card.inner_text()
    assert "IMEI" in page.locator('article.modem[data-modem="modem1"]').inner_text()
    shoot(page, "status_upstream")
    assert errors == []


def test_each_card_shows_its_measured_delivery_and_a_deferred_sim_says_why(browser, gateway_factory, settings):
    adaptive = settings.replace(messaging=dataclasses.replace(settings.messaging, delivery_report=True),
                                routing=RoutingSettings(strategy="adaptive", min_reports=3, refresh_s=3600))
    gateway, fakes, _ = gateway_factory(2, settings_override=adaptive)
    fakes[1].set_undelivered_rate(1.0)
    wait_until(lambda: [m.state.value for m in gateway.service.modems.list_modems()] == ["online", "online"])
    sent = [gateway.service.messages.send(f"+4479111234{i:02d}", "hello", via=f"modem{1 + i % 2}")[0]
            for i in range(8)]
    wait_until(lambda: all(gateway.service.messages.get_message(m.uid).state in (MessageState.DELIVERED,
                                                                                 MessageState.FAILED) for m in sent))
    assert gateway.service.routing.refresh().keys() == {"modem2"}
    page, errors, _ = logged_in(browser, gateway)
    page.locator('article.modem[data-modem="modem2"] .delivery').wait_for()
    assert page.locator('article.modem[data-modem="modem1"] .delivery').inner_text().startswith("100 % of 4")
    poor = page.locator('article.modem[data-modem="modem2"] .delivery')
    assert poor.inner_text().startswith("0 % of 4") and poor.inner_text().endswith("deferred")
    assert "delivers 0% of its last 4" in poor.get_attribute("title")
    shoot(page, "status_adaptive")
    assert errors == []
