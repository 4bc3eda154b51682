"""The messages page in a real Chromium against a whole gateway over a fake modem: messages filtered by state,
a failed one's story (its part, every state it went through with the modem's error, the webhook told about
it), retried from the page until it is sent; screenshots at desktop and phone width
(tests/artifacts/messages*.png, message_story*.png)."""

from __future__ import annotations

from tests.conftest import wait_until
from tests.web.pages import logged_in, needs_chromium, shoot

pytestmark = needs_chromium


def test_an_operator_finds_a_failed_message_reads_its_story_and_retries_it(browser, gateway_factory):
    gateway, [fake], _ = gateway_factory(1)
    service = gateway.service
    service.receivers.add_webhook("http://127.0.0.1:9/hook", ["message.failed", "message.sent"])
    wait_until(lambda: [m.state.value for m in service.modems.list_modems()] == ["online"])
    [ok] = service.messages.send("+447911123456", "Your appointment is at 10:00")
    wait_until(lambda: service.messages.get_message(ok.uid).state.value == "sent")
    fake.set_fail_next(1, "+CMS ERROR: 1")  # unassigned number: fails at once
    [bad] = service.messages.send("+447911123457", "Your prescription is ready")
    wait_until(lambda: service.messages.get_message(bad.uid).state.value == "failed")

    page, errors, base = logged_in(browser, gateway)
    page.click("nav >> text=Sent")
    page.wait_for_selector("#messages tbody tr >> nth=1")
    assert page.locator("#messages tbody tr").count() == 2
    shoot(page, "messages")
    page.select_option("#filter-status", "failed")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/sent?status=failed*")
    rows = page.locator("#messages tbody tr")
    assert rows.count() == 1 and "Your prescription is ready" in rows.nth(0).inner_text()

    rows.nth(0).locator("a").click()
    page.wait_for_selector("#story-state >> text=failed")
    history = page.locator("#story-history").inner_text()
    assert "queued" in history and "sending" in history and "failed" in history and "cms_1" in history
    page.wait_for_selector("#story-deliveries >> text=message.failed")
    shoot(page, "message_story")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#story-retry")
    page.wait_for_selector(".notice-ok >> text=Queued again.")
    wait_until(lambda: service.messages.get_message(bad.uid).state.value == "sent")
    page.reload()
    page.wait_for_selector("#story-state >> text=sent")
    assert [s.text for s in fake.sent][-1] == "Your prescription is ready"
    assert errors == []
