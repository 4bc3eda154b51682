"""The pages by keyboard alone, in a real Chromium: log in, reach the send page through the top bar, write to two
numbers and get to the review, only with Tab, typing and Enter; whatever has the focus shows it (an outline or a
ring), so a person who cannot use a mouse sees where they are."""

from __future__ import annotations

from tests.web.pages import PASSWORD, needs_chromium
from gateway.core.admin_auth import AdminAuth

pytestmark = needs_chromium

FOCUSED = """() => { const e = document.activeElement, s = getComputedStyle(e);
  return {tag: e.tagName, id: e.id, text: (e.innerText || e.value || '').trim().slice(0, 40),
          shown: s.outlineStyle !== 'none' && s.outlineWidth !== '0px' || s.boxShadow !== 'none'}; }"""


def tab_to(page, wanted, limit: int = 60) -> dict:
    """Press Tab until `wanted(focused)` holds; every element passed on the way must show its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert focused["shown"], f"the focus on {focused} cannot be seen"
        if wanted(focused):
            return focused
    raise AssertionError("never reached by Tab")


def test_a_person_logs_in_and_reaches_the_review_of_a_message_with_the_keyboard_only(browser, gateway_factory):
    gateway, _, _ = gateway_factory(1)
    AdminAuth(gateway.store).set_password(PASSWORD)
    base = f"http://127.0.0.1:{gateway.port}"
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{base}/login")
    page.keyboard.type(PASSWORD)  # the password field has the focus
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")

    tab_to(page, lambda f: f["tag"] == "A" and f["text"] == "Send")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/compose")
    tab_to(page, lambda f: f["id"] == "compose-numbers")
    page.keyboard.type("+447911123401, +447911123402")
    tab_to(page, lambda f: f["id"] == "compose-body")
    page.keyboard.type("The clinic is closed on Monday.")
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"].startswith("Review"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/compose/review")
    assert page.inner_text("#review-title") == "Send to 2 recipients?"
