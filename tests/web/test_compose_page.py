"""Compose and campaigns in a real Chromium against a whole gateway over a fake modem: a marketing text to a
group and some numbers, reviewed (repeats removed, an unreadable number named, the opted-out and those lacking
a field left out, one message shown as it reads), sent, and followed on its campaign page until the fake modem
has them; screenshots at desktop and phone width (tests/artifacts/compose*.png, campaign*.png)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from tests.conftest import wait_until
from tests.web.pages import logged_in, needs_chromium, shoot

pytestmark = needs_chromium


def test_a_teacher_tells_a_class_about_a_trip_and_watches_it_go(browser, gateway_factory):
    gateway, [fake], _ = gateway_factory(1)
    book = gateway.service.contacts
    book.add_group("Year 4")
    for number, name, fields in (("+447911123401", "Mrs Smith", {"child": "Amelia"}),
                                 ("+447911123402", "Mr Jones", {"child": "Tom"}),
                                 ("+447911123403", "Ms Brown", {}),  # no child on file
                                 ("+447911123404", "Mr Green", {"child": "Ivy"})):  # opted out
        book.add_contact(number, name, fields, ["Year 4"])
    gateway.service.consent.set_consent("+447911123404", opted_out=True)
    wait_until(lambda: [m.state.value for m in gateway.service.modems.list_modems()] == ["online"])
    page, errors, base = logged_in(browser, gateway)
    page.click("nav >> text=Send")

    page.check("#compose input[name=groups]")
    page.fill("#compose-numbers", "07911 123460\n+447911123401, 12")
    page.fill("#compose-body", "Dear {name}, {child}'s class trip is on Friday. Bring a packed lunch!")
    page.select_option("#compose-class", "marketing")
    assert page.locator("#compose-counter").inner_text().startswith("GSM-7 · 1 part")
    shoot(page, "compose")
    page.click("#compose button[type=submit]")

    page.wait_for_selector("#review-title >> text=Send to 2 recipients?")
    review = page.locator("#review").inner_text()
    assert "5 after removing repeats; 1 number could not be read: 12." in review
    assert "1 opted out: left out." in review and "2 lack a field the text uses" in review
    assert page.locator("#sample p").inner_text() == ("Dear Mrs Smith, Amelia's class trip is on Friday. "
                                                      "Bring a packed lunch!")
    shoot(page, "compose_review")
    page.click("#change")  # back to the form, as written
    assert page.locator("#compose-body").input_value().startswith("Dear {name}, {child}'s")
    assert page.locator("#compose input[name=groups]").is_checked()
    assert page.locator("#compose-class").input_value() == "marketing"
    page.click("#compose button[type=submit]")
    page.wait_for_selector("#review-title >> text=Send to 2 recipients?")
    page.click("#send button.btn-primary")

    page.wait_for_selector(".notice-ok >> text=2 messages queued.")
    wait_until(lambda: len(fake.sent) == 2)
    page.wait_for_selector('#progress-legend dd[data-state="sent"] >> text=2', timeout=10000)  # polled
    assert sorted(s.text for s in fake.sent) == [
        "Dear Mr Jones, Tom's class trip is on Friday. Bring a packed lunch!",
        "Dear Mrs Smith, Amelia's class trip is on Friday. Bring a packed lunch!"]
    left_out = page.locator("#rejected").inner_text()
    assert "opted out" in left_out and "has no child" in left_out and "has no name" in left_out
    shoot(page, "campaign")
    with page.expect_download() as download:
        page.click("#campaign-export")
    exported = download.value.path().read_text().splitlines()
    assert exported[0] == "to,state,modem,parts,queued_at,sent_at,error" and len(exported) == 3
    assert {line.split(",")[:3][1] for line in exported[1:]} == {"sent"}
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#campaign-cancel")
    page.wait_for_selector(".notice-ok >> text=0 messages not yet sent were cancelled.")
    assert "campaign.sent" in [e.action for e in gateway.store.audit.list_audit()]
    assert errors == []


def test_a_campaign_can_wait_until_nine_where_each_recipient_lives(browser, gateway_factory):
    gateway, _, _ = gateway_factory(1)
    page, errors, _ = logged_in(browser, gateway)
    page.click("nav >> text=Send")
    nine = (gateway.service.clock() + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    page.fill("#compose-numbers", "+447911123401\n+33612345678")
    page.fill("#compose-body", "Open day on Saturday")
    page.fill("#compose-send-at", nine.strftime("%Y-%m-%dT%H:%M"))
    page.check("#compose-recipient-time")
    page.click("#compose button[type=submit]")
    page.wait_for_selector("#review >> text=where each recipient lives")
    assert page.locator("#cost-estimate").inner_text().startswith("2 SMS parts; no cost is set")
    shoot(page, "compose_review_local_time")
    page.click("#send button.btn-primary")
    page.wait_for_selector(".notice-ok >> text=2 messages queued.")
    held = {m.to_number: m.next_attempt_at for m in gateway.service.messages.list_messages(limit=10)[0]}
    assert held == {"+447911123401": nine.replace(tzinfo=ZoneInfo("Europe/London")),
                    "+33612345678": nine.replace(tzinfo=ZoneInfo("Europe/Paris"))}
    assert errors == []
