"""/api/v1/docs in a real Chromium: Swagger UI, served by the box, renders the OpenAPI 3.1 document; a key
typed into its Authorize box lets "Try it out" call the running gateway and show the answer; screenshots at
desktop and phone width (tests/artifacts/api_docs*.png)."""

from __future__ import annotations

from tests.web.pages import DESKTOP, needs_chromium, shoot

pytestmark = needs_chromium


def test_a_developer_reads_the_api_and_tries_a_call_with_a_key(browser, gateway_factory):
    gateway, _, token = gateway_factory(1)
    base = f"http://127.0.0.1:{gateway.port}"
    page = browser.new_page(viewport=DESKTOP)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
    page.goto(f"{base}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title >> text=smsgw API")
    assert page.locator(".opblock").count() > 40  # every operation of the document

    page.click("button.authorize")
    page.fill(".auth-container input[type=text] >> nth=0", token)
    page.click(".auth-container button.authorize >> nth=0")
    page.click("button.btn-done")
    call = page.locator(".opblock", has=page.locator(".opblock-summary-path[data-path='/api/v1/modems']")).first
    call.locator(".opblock-summary").click()
    call.locator("button.try-out__btn").click()
    call.locator("button.execute").click()
    status = call.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert "modem1" in call.locator(".live-responses-table tr.response .response-col_description").first.inner_text()
    # Swagger UI's own markup: a copy button inside each operation's summary button, and example code blocks
    # that scroll without taking focus (its colours are the box's: web/static/api-docs.css)
    shoot(page, "api_docs", axe_rules_off=("nested-interactive", "scrollable-region-focusable"))
    assert outside == [] and errors == []
