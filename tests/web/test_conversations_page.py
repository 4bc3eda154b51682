"""The conversations page in a real Chromium against a whole gateway over a fake modem: an SMS from a contact
shows as unread under the contact's name, opening it reads it, a reply (counted as typed, sent from a chosen SIM)
reaches the fake modem and its tick turns to sent, and a new SMS appears without a reload; screenshots at desktop
and phone width (tests/artifacts/conversations*.png)."""

from __future__ import annotations

from tests.conftest import wait_until
from tests.web.pages import ARTIFACTS, PHONE, logged_in, needs_chromium, shoot

pytestmark = needs_chromium
PARENT = "+447911123456"


def test_a_receptionist_answers_a_parent_in_a_thread(browser, gateway_factory):
    gateway, [fake], _ = gateway_factory(1)
    gateway.service.contacts.add_contact(PARENT, "Amelia's mum")
    gateway.service.contacts.add_contact("+447911123457", "Tom's dad")  # no SMS either way yet
    wait_until(lambda: [m.state.value for m in gateway.service.modems.list_modems()] == ["online"])
    fake.inject_sms(PARENT, "Is the trip still on tomorrow?")
    wait_until(lambda: gateway.service.messages.list_inbox()[0])
    page, errors, base = logged_in(browser, gateway)
    page.click("nav >> text=Conversations")

    entry = page.wait_for_selector("#threads li >> text=Amelia's mum")
    row = page.locator("#threads li").nth(0).inner_text()
    assert "Is the trip still on tomorrow?" in row and "1" in page.locator("#threads .unread").inner_text()
    entry.click()
    page.wait_for_selector("#thread .bubble.in >> text=Is the trip still on tomorrow?")
    assert page.locator("#threads .unread").count() == 0  # opened: read
    assert gateway.service.messages.threads()[0].unread == 0

    page.fill("#reply-body", "Yes 😊")
    assert page.locator("#reply-counter").inner_text().startswith("UCS-2 · 1 part · 64 characters left")
    page.fill("#reply-body", "Yes, the coach leaves at 8:30. Please be there by 8:15.")
    assert page.locator("#reply-counter").inner_text() == "GSM-7 · 1 part · 105 characters left"
    page.fill("#reply-body", "x" * 161)
    assert page.locator("#reply-counter").inner_text().startswith("GSM-7 · 2 parts")
    page.fill("#reply-body", "Yes, the coach leaves at 8:30. Please be there by 8:15.")
    page.select_option("#reply-via", "modem1")
    page.click("#reply button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=Sent to the queue (1 part).")
    wait_until(lambda: [s.text for s in fake.sent] == ["Yes, the coach leaves at 8:30. Please be there by 8:15."])
    page.wait_for_selector("#thread .bubble.out .tick.sent", timeout=10000)  # the poll brings the new state

    fake.inject_sms(PARENT, "Thank you!")
    page.wait_for_selector("#thread .bubble.in >> text=Thank you!", timeout=15000)  # no reload
    shoot(page, "conversations")
    page.fill("#new-thread-number", "07911 123457")
    page.click("#new-thread button[type=submit]")
    page.wait_for_selector("#thread >> text=Nothing yet")
    assert page.url.endswith("/conversations/%2B447911123457"), page.url
    assert "Tom's dad" in page.locator("#thread-title").inner_text()  # a contact with no thread yet
    page.goto(f"{base}/conversations")
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(ARTIFACTS / "conversations_list_phone.png"))
    assert errors == []
