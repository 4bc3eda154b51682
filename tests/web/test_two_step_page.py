"""Two-step login in a real Chromium: a receptionist finds her login under her name in the top bar, sets up
two-step login from the QR code's key, and logs in again with a code; screenshots at both widths
(tests/artifacts/me_two_step_setup*.png, me_two_step_on*.png, login_code*.png)."""

from __future__ import annotations

import time

import pyotp

from tests.web.pages import logged_in, needs_chromium, shoot, submit_login
from tests.web.test_users import PASSWORD

pytestmark = needs_chromium


def test_a_receptionist_turns_on_two_step_login_and_logs_in_with_a_code(browser, gateway_factory):
    gateway, _, _ = gateway_factory(1)
    gateway.service.admin.add_user("reception", "operator", PASSWORD)
    page, errors, base = logged_in(browser, gateway)
    page.click("#logout")
    page.wait_for_url(f"{base}/login")
    submit_login(page, PASSWORD, "reception")
    page.wait_for_url(f"{base}/")

    page.click("#me")
    page.click("#two-step-start button")
    page.wait_for_selector("#two-step-qr")
    shoot(page, "me_two_step_setup")
    secret = page.inner_text("#two-step-secret").replace(" ", "")
    page.fill("#on-code", "000000")
    page.click("#two-step-on button")
    page.wait_for_selector(".notice-error >> text=That code does not match")
    page.fill("#on-code", pyotp.TOTP(secret).now())
    page.click("#two-step-on button")
    page.wait_for_selector(".notice-ok >> text=Two-step login is on")
    assert page.get_attribute("#two-step-state", "data-state") == "on"
    shoot(page, "me_two_step_on")

    page.click("#logout")
    page.wait_for_url(f"{base}/login")
    submit_login(page, PASSWORD, "reception")
    page.wait_for_selector("#code-form")
    page.fill("#code", "000000")
    page.click("#code-form button")
    page.wait_for_selector(".notice-error >> text=Wrong code")
    shoot(page, "login_code")
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))  # the next step's: the one typed above opened a login
    page.click("#code-form button")
    page.wait_for_url(f"{base}/")
    assert page.inner_text("#me") == "reception"
    assert [e for e in errors if "status of 401" not in e] == []  # the wrong codes' answers
