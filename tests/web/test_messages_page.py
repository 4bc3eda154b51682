"""The messages page in a real Chromium against a whole gateway over a fake modem: messages filtered by state,
a failed one's story (its part, every state it went through with the modem's error, the webhook told about
it), retried from the page until it is sent; screenshots at desktop and phone width
(tests/artifacts/messages*.png, message_story*.png)."""

from __future__ import annotations

from gateway.core.admin_auth import AdminAuth
from tests.conftest import wait_until
from tests.web.test_browser import ARTIFACTS, PASSWORD, browser  # noqa: F401 (the browser fixture)
from tests.web.test_browser import pytestmark as browser_marks

pytestmark = browser_marks


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    page.screenshot(path=str(ARTIFACTS / f"{name}_phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    page.set_viewport_size({"width": 1366, "height": 900})


def test_an_operator_finds_a_failed_message_reads_its_story_and_retries_it(browser, gateway_factory):  # noqa: F811
    gateway, [fake], _ = gateway_factory(1)
    AdminAuth(gateway.store).set_password(PASSWORD)
    service = gateway.service
    service.receivers.add_webhook("http://127.0.0.1:9/hook", ["message.failed", "message.sent"])
    wait_until(lambda: [m.state.value for m in service.modems.list_modems()] == ["online"])
    [ok] = service.messages.send("+447911123456", "Your appointment is at 10:00")
    wait_until(lambda: service.messages.get_message(ok.uid).state.value == "sent")
    fake.set_fail_next(1, "+CMS ERROR: 1")  # unassigned number: fails at once
    [bad] = service.messages.send("+447911123457", "Your prescription is ready")
    wait_until(lambda: service.messages.get_message(bad.uid).state.value == "failed")

    base = f"http://127.0.0.1:{gateway.port}"
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/login")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.click("nav >> text=Messages")
    page.wait_for_selector("#messages tbody tr >> nth=1")
    assert page.locator("#messages tbody tr").count() == 2
    shoot(page, "messages")
    page.select_option("#filter-status", "failed")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/messages?status=failed*")
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
