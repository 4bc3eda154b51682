"""Accounts in a real Chromium against a whole gateway over a fake modem: an admin adds a department with a daily
quota and a person who counts against it; the settings page shows its use against the quota; that person's
campaign review says what the account has used and refuses what would not fit; screenshots at both widths
(tests/artifacts/settings_accounts*.png, compose_review_quota*.png)."""

from __future__ import annotations

from tests.conftest import wait_until
from tests.web.pages import logged_in, needs_chromium, shoot, submit_login
from tests.web.test_users import PASSWORD

pytestmark = needs_chromium


def test_an_admin_gives_the_clinic_a_quota_and_its_receptionist_sees_it_as_she_sends(browser, gateway_factory):
    gateway, [fake], _ = gateway_factory(1)
    wait_until(lambda: [m.state.value for m in gateway.service.modems.list_modems()] == ["online"])
    page, errors, base = logged_in(browser, gateway)
    page.goto(f"{base}/settings")
    page.fill("#new-account-name", "clinic")
    page.fill("#new-account-day", "3")
    page.fill("#new-account-budget", "bad")
    page.click("#new-account button[type=submit]")
    page.wait_for_selector(".notice-error >> text=budget must be a number")
    page.fill("#new-account-name", "clinic")
    page.fill("#new-account-day", "3")
    page.click("#new-account button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=Account “clinic” added.")
    page.fill("#new-user-name", "reception")
    page.fill("#new-user-password", PASSWORD)
    page.select_option("#new-user-account", "clinic")
    page.click("#new-user button[type=submit]")
    page.wait_for_selector(".notice-ok >> text=what they send counts against clinic")

    clinic = gateway.service.accounts.account_named("clinic")
    gateway.service.messages.send(["+447911123401", "+447911123402"], "Your appointment is at 10:00", account=clinic)
    page.reload()
    today = page.locator('#accounts [data-account="clinic"] dd').first
    assert today.inner_text().strip() == "2 of 3"
    assert "counts against clinic" in page.locator("#users").inner_text()
    shoot(page, "settings_accounts")

    page.click("text=Log out")
    submit_login(page, PASSWORD, "reception")
    page.wait_for_url(f"{base}/")
    page.click("nav >> text=Send")
    page.fill("#compose-numbers", "+447911123403, +447911123404")
    page.fill("#compose-body", "The clinic is closed on Monday.")
    page.click("#compose button[type=submit]")
    page.wait_for_selector("#quota.warn-text >> text=may send 3 SMS parts a day: 2 used today, this needs 2")
    shoot(page, "compose_review_quota")
    page.click("#send button.btn-primary")
    page.wait_for_selector(".notice-error >> text=may send 3 SMS parts a day")
    assert len(gateway.service.messages.list_messages()[0]) == 2  # nothing more was queued
    assert errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]  # the form
    # comes back with the refusal as a 400
