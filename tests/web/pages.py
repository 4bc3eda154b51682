"""What the browser tests share: Debian's Chromium (Playwright drives it; never `playwright install`), a page
logged in to a running gateway that records console errors, and screenshots at desktop and phone width kept
in tests/artifacts/ for reviewers, each width checked by axe-core for accessibility."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from gateway.core.admin_auth import AdminAuth

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-domain-reliability",
        "--disable-breakpad"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "browser test password"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")  # axe-core's impacts that fail a page
_AXE = Axe()

needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason="needs Debian's chromium (apt-get install chromium)")


def logged_in(browser, gateway):
    """A desktop-sized page logged in to `gateway`'s status page, the list its console errors go to, and the
    gateway's base URL."""
    AdminAuth(gateway.store).set_password(PASSWORD)
    base = f"http://127.0.0.1:{gateway.port}"
    page = browser.new_page(viewport=DESKTOP)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/login")
    submit_login(page, PASSWORD)
    page.wait_for_url(f"{base}/")
    return page, errors, base


def submit_login(page, password: str, username: str = "") -> None:
    """Fill the login page `page` shows, as the person `username` (none: the admin), and submit it."""
    if username:
        page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def shoot(page, name: str, *, axe_rules_off: tuple[str, ...] = ()) -> None:
    """`<name>.png` at desktop width and `<name>_phone.png` at 390 px, which must not scroll sideways; at each
    width axe-core finds no serious or critical accessibility violation (but for `axe_rules_off`: markup that a
    bundled viewer makes and the box cannot change)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    violations = accessibility_violations(page, axe_rules_off)
    assert not violations, f"{name}: {violations}"
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(200)
    page.screenshot(path=str(ARTIFACTS / f"{name}_phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    violations = accessibility_violations(page, axe_rules_off)
    assert not violations, f"{name} at phone width: {violations}"
    page.set_viewport_size(DESKTOP)


def accessibility_violations(page, rules_off: tuple[str, ...] = ()) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands: "<rule>: <element> <help>" each."""
    options = {"resultTypes": ["violations"], "rules": {rule: {"enabled": False} for rule in rules_off}}
    found = _AXE.run(page, options=options).response["violations"]
    return [f"{v['id']}: {node['target']} {v['help']}" for v in found if v["impact"] in SERIOUS
            for node in v["nodes"]]
