"""The settings page in a real Chromium against a whole gateway: a template added, changed and deleted; a webhook
added (its secret shown once) that then receives a real event at a loopback receiver, its delivery listed as
delivered, and a test event sent to it by hand; a modem's label, group and cap changed, and the quiet hours;
screenshots at desktop and phone width (tests/artifacts/settings*.png)."""

from __future__ import annotations

from tests.conftest import wait_until
from tests.receiver import Receiver
from tests.web.pages import logged_in, needs_chromium, shoot

pytestmark = needs_chromium


def test_an_operator_keeps_templates_and_a_webhook_without_touching_the_config(browser, gateway_factory):
    gateway, _, _ = gateway_factory(1)
    receiver = Receiver()
    try:
        wait_until(lambda: [m.state.value for m in gateway.service.modems.list_modems()] == ["online"])
        page, errors, base = logged_in(browser, gateway)
        page.click("nav >> text=Settings")
        page.wait_for_selector("#templates >> text=No templates yet.")

        page.fill("#new-template-name", "reminder")
        page.fill("#new-template-body", "Dear {name}, your appointment is on {date}.")
        page.check("#new-template-approved")
        page.click("#new-template button[type=submit]")
        page.wait_for_selector(".notice-ok >> text=Template “reminder” added.")
        page.fill("#templates textarea >> nth=0", "Dear {name}, see you on {date}.")
        page.click("#templates button:has-text('Save') >> nth=0")
        page.wait_for_selector(".notice-ok >> text=Template “reminder” saved.")
        assert gateway.service.templates.get_template("reminder").body == "Dear {name}, see you on {date}."
        page.fill("#new-template-name", "bad")
        page.fill("#new-template-body", "Dear {0}")
        page.click("#new-template button[type=submit]")
        page.wait_for_selector(".notice-error")

        page.fill("#new-webhook-url", receiver.url)
        page.uncheck("#new-webhook input[value='message.received']")
        page.uncheck("#new-webhook input[value='message.delivered']")
        page.uncheck("#new-webhook input[value='message.failed']")
        page.check("#new-webhook input[value='message.sent']")
        page.click("#new-webhook button[type=submit]")
        assert "Its signing secret:" in page.wait_for_selector(".notice-ok").inner_text()
        gateway.service.messages.send("+447911123456", "Your appointment is on Friday")
        assert receiver.wait_for(lambda r: any(x["json"]["type"] == "message.sent" for x in r.received))
        def delivered() -> bool:
            page.reload()  # (a reload answers a response, which is true: it cannot stand first in an `or`)
            return "HTTP 200" in page.locator("#webhooks").inner_text()

        wait_until(delivered, timeout_s=15)
        assert "HTTP 200" in page.locator("#webhooks").inner_text()
        page.click("#test-webhook-1")
        page.wait_for_selector(".notice-ok >> text=A test event is on its way")
        assert receiver.wait_for(lambda r: any(x["json"]["type"] == "webhook.test" for x in r.received))

        def tested() -> bool:
            page.reload()
            return "webhook.test" in page.locator("#webhooks").inner_text()

        wait_until(tested, timeout_s=15)  # the delivery log says which event each delivery carried

        modem = page.locator('#modems [data-modem="modem1"]')
        modem.locator("input[name=label]").fill("Reception's SIM")
        modem.locator("input[name=cost]").fill("cheap")
        modem.locator("button").click()
        page.wait_for_selector(".notice-error >> text=cost must be a number")
        modem = page.locator('#modems [data-modem="modem1"]')
        modem.locator("input[name=label]").fill("Reception's SIM")
        modem.locator("input[name=group]").fill("front-desk")
        modem.locator("input[name=max_per_minute]").fill("6")
        modem.locator("button").click()
        page.wait_for_selector(".notice-ok >> text=Modem modem1 saved")
        assert "group front-desk" in page.locator('#modems [data-modem="modem1"]').inner_text()
        assert gateway.pool.worker("modem1").modem.max_per_minute == 6

        page.goto(f"{base}/")  # the dashboard's card says the label, the name beside it
        card = page.wait_for_selector('[data-modem="modem1"] .modem-name')
        assert card.inner_text() == "Reception's SIM modem1"
        page.goto(f"{base}/settings")

        page.fill("#quiet-window", "22:30-07:00")
        page.click("#quiet-form button:has-text('Save')")
        page.wait_for_selector(".notice-ok >> text=Marketing messages are held from 22:30-07:00")
        assert gateway.service.box_settings.quiet_hours() == {"window": "22:30-07:00", "changed": True}
        shoot(page, "settings")
        page.click("#quiet-form button[name=as_config]")
        page.wait_for_selector("#quiet-now >> text=As the config says.")

        page.fill("#route-rules", "+44 front-desk 0.02\n44 nowhere")
        page.click("#routes-form button:has-text('Save')")
        page.wait_for_selector(".notice-error >> text=rule 2: match must be a prefix")
        page.fill("#route-rules", "+44 front-desk 0.02\nFR intl 0.05 front-desk\n")
        page.click("#routes-form button:has-text('Save')")
        page.wait_for_selector(".notice-ok >> text=Route rules saved")
        assert gateway.service.policy.explain("+447911123456").group == "front-desk"
        assert page.input_value("#route-rules") == "+44 front-desk 0.02\nFR intl 0.05 front-desk\n"

        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#templates button.btn-danger >> nth=0")
        page.wait_for_selector(".notice-ok >> text=Template “reminder” deleted.")
        actions = [e.action for e in gateway.store.audit.list_audit()]
        assert {"template.added", "template.changed", "template.deleted", "webhook.added", "webhook.tested",
                "modem.changed", "settings.quiet_hours", "settings.routes"} <= set(actions)
        assert errors == []
    finally:
        receiver.down()
