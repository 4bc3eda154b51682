"""The status page through the Flask test client over a real service and SQLite: login, CSRF, sessions,
the JSON feed and the operator's actions."""

import re
import subprocess
import sys
from datetime import timedelta

import pytest

from gateway.config import ServerSettings
from gateway.core.admin_auth import AdminAuth, LoginThrottle
from gateway.core.service import GatewayService
from tests.clock import NOON, Clock
from tests.conftest import ADMIN_PASSWORD


def csrf_of(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def log_in(client, password=ADMIN_PASSWORD):
    return client.post("/login", data={"csrf_token": csrf_of(client), "password": password})


@pytest.fixture
def operator(client, admin_password):
    """A logged-in browser session; `.csrf` is the token its forms carry."""
    assert log_in(client).status_code == 302
    page = client.get("/").get_data(as_text=True)
    client.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return client


def post(client, path, **form):
    return client.post(path, data={"csrf_token": client.csrf, **form})


def test_logged_out_visitors_see_the_login_form_only(client, admin_password, service):
    assert client.get("/").headers["Location"] == "/login"
    assert client.get("/status.json").status_code == 401
    [message] = service.messages.send("+447911123456", "secret 123456")
    assert client.get(f"/status/messages/{message.uid}/body").status_code == 401
    token = csrf_of(client)  # a session with a CSRF token but no login: still refused
    refused = client.post(f"/status/messages/{message.uid}/cancel", data={"csrf_token": token})
    assert refused.status_code == 302 and refused.headers["Location"] == "/login"
    assert service.messages.get_message(message.uid).state.value == "queued"


def test_wrong_password_is_refused_and_the_right_one_opens_the_page(client, admin_password):
    wrong = log_in(client, "not the password")
    assert wrong.status_code == 401 and "Wrong password" in wrong.get_data(as_text=True)
    assert client.get("/status.json").status_code == 401
    assert log_in(client).headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200 and "Send a test SMS" in page.get_data(as_text=True)
    assert client.get("/status.json").status_code == 200


def test_forms_without_the_csrf_token_are_refused(client, admin_password, service):
    assert client.post("/login", data={"password": ADMIN_PASSWORD}).status_code == 400
    log_in(client)
    [message] = service.messages.send("+447911123456", "hello")
    assert client.post(f"/status/messages/{message.uid}/cancel").status_code == 400
    assert client.post(f"/status/messages/{message.uid}/cancel", data={"csrf_token": "forged"}).status_code == 400
    assert service.messages.get_message(message.uid).state.value == "queued"


def test_the_api_needs_no_csrf_token(client, auth):
    response = client.post("/api/v1/messages", json={"to": "+447911123456", "body": "hi"}, headers=auth)
    assert response.status_code == 202


def test_logout_and_a_new_password_end_every_session_a_copied_cookie_included(client, app, admin_password, store):
    log_in(client)
    other = app.test_client()
    log_in(other)
    stolen = app.test_client()
    stolen.set_cookie("smsgw_session", client.get_cookie("smsgw_session").value)
    assert stolen.get("/status.json").status_code == 200
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    assert client.post("/logout", data={"csrf_token": token}).headers["Location"] == "/login"
    for browser in (client, other, stolen):
        assert browser.get("/status.json").status_code == 401
    log_in(other)
    assert other.get("/status.json").status_code == 200
    AdminAuth(store).set_password("a brand new password")  # what `smsgw admin password` does
    assert other.get("/status.json").status_code == 401


def test_a_session_unused_for_the_idle_timeout_ends(settings, store, admin_password):
    from web import create_app

    clock = Clock(NOON)
    service = GatewayService(store, settings.messaging, clock=clock)
    browser = create_app(settings, service).test_client()
    log_in(browser)
    clock.now += timedelta(seconds=settings.server.session_idle_s - 1)
    assert browser.get("/status.json").status_code == 200  # used: the idle time starts again
    clock.now += timedelta(seconds=settings.server.session_idle_s - 1)
    assert browser.get("/status.json").status_code == 200
    clock.now += timedelta(seconds=settings.server.session_idle_s + 1)
    assert browser.get("/status.json").status_code == 401


def test_a_poll_answered_after_a_logout_does_not_bring_the_old_session_back(settings, store, admin_password):
    """The page's poll sets no cookie while the session's use is fresh: one in flight at a logout cannot overwrite
    the new session, whose CSRF token the login form then carries (it was refused as out of date)."""
    from web import create_app
    from web.session import SEEN_EVERY_S

    clock = Clock(NOON)
    service = GatewayService(store, settings.messaging, clock=clock)
    browser = create_app(settings, service).test_client()
    log_in(browser)
    clock.now += timedelta(seconds=SEEN_EVERY_S - 1)
    polled = browser.get("/status.json")
    assert polled.status_code == 200 and "Set-Cookie" not in polled.headers
    clock.now += timedelta(seconds=2)
    assert "Set-Cookie" in browser.get("/status.json").headers  # its use is written once a minute


def test_login_locks_out_after_repeated_failures():
    now = [0.0]
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=30, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after_s("10.0.0.9") == 0
        throttle.failed("10.0.0.9")
    assert throttle.retry_after_s("10.0.0.9") == 30 and throttle.retry_after_s("10.0.0.8") == 0
    now[0] = 31.0
    assert throttle.retry_after_s("10.0.0.9") == 0


def test_a_flood_of_addresses_keeps_the_lockout_bookkeeping_bounded_and_the_recent_lockouts():
    now = [0.0]
    throttle = LoginThrottle(max_failures=2, window_s=60, lockout_s=30, clock=lambda: now[0])
    for i in range(5 * LoginThrottle.MAX_ADDRESSES):
        now[0] += 0.0001
        throttle.failed(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        assert throttle.tracked <= 2 * LoginThrottle.MAX_ADDRESSES + 1
    throttle.failed("192.168.7.7")
    throttle.failed("192.168.7.7")
    assert throttle.retry_after_s("192.168.7.7") > 0  # the flood did not push a fresh lockout out
    now[0] += 120  # every failure and lockout has aged out: the next prune forgets them all
    for i in range(2 * LoginThrottle.MAX_ADDRESSES):
        throttle.failed(f"172.16.{i >> 8 & 255}.{i & 255}")
    assert throttle.tracked <= 2 * LoginThrottle.MAX_ADDRESSES + 1


def test_the_login_form_refuses_even_the_right_password_during_a_lockout(client, admin_password):
    for _ in range(5):
        assert log_in(client, "guess").status_code == 401
    locked = log_in(client)
    assert locked.status_code == 429 and "Too many failed attempts" in locked.get_data(as_text=True)


def test_session_cookie_flags_and_a_secret_that_survives_a_restart(settings, service, admin_password):
    from web import create_app

    first = create_app(settings, service).test_client()
    response = log_in(first)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    restarted = create_app(settings, service).test_client()  # same database, new app: same secret
    restarted.set_cookie("smsgw_session", first.get_cookie("smsgw_session").value)
    assert restarted.get("/status.json").status_code == 200
    secure = create_app(settings.replace(server=ServerSettings(cookie_secure=True)), service).test_client()
    assert "Secure" in log_in(secure).headers["Set-Cookie"]


def test_without_a_password_nobody_logs_in(client):
    page = client.get("/login").get_data(as_text=True)
    assert "smsgw admin password" in page
    assert log_in(client, "").status_code == 401


def test_the_feed_masks_numbers_and_leaves_bodies_out(operator, service):
    [message] = service.messages.send("+447911123456", "Your code is 482913")
    feed = operator.get("/status.json").get_json()
    assert feed["queue"]["queued"] == 1 and feed["queue"]["oldest_queued_age_s"] is not None
    [row] = feed["outbound"]
    assert row["to"] == "+44 79** ***456" and row["can_cancel"]
    assert "482913" not in operator.get("/status.json").get_data(as_text=True)
    assert "+447911123456" not in operator.get("/status.json").get_data(as_text=True)
    assert operator.get("/status.json?numbers=full").get_json()["outbound"][0]["to"] == "+447911123456"
    body = operator.get(f"/status/messages/{message.uid}/body").get_json()
    assert body == {"id": message.uid, "body": "Your code is 482913"}
    assert operator.get("/status/messages/msg_nope/body").status_code == 404
    assert [f["key"] for f in feed["health"]] == ["delivery_rate", "median_delivery_s", "api_latency", "error_rate"]
    assert len(feed["throughput"]["hour"]["sent"]) == 60 and len(feed["throughput"]["hour"]["received"]) == 60
    assert len(feed["throughput"]["day"]["received"]) == 24


def test_cancel_retry_and_test_sms_from_the_page(operator, service, store):
    from datetime import datetime, timezone

    [queued] = service.messages.send("+447911123456", "cancel me")
    done = post(operator, f"/status/messages/{queued.uid}/cancel")
    assert done.status_code == 302
    assert service.messages.get_message(queued.uid).state.value == "cancelled"
    assert "cancelled" in operator.get("/").get_data(as_text=True)  # the flash message
    again = post(operator, f"/status/messages/{queued.uid}/cancel")  # refused by the service: said on the page
    assert again.status_code == 302 and "only queued or scheduled" in operator.get("/").get_data(as_text=True)

    [failing] = service.messages.send("+447911123457", "fail me")
    now = datetime.now(timezone.utc)
    store.modems.save_modem("modem1", "/dev/null", now)
    job = store.outbox.claim_next("modem1", now, 60)
    store.outbox.record_permanent_failure(job, 1, "modem1", "cms_1", "unassigned number", now)
    assert operator.get("/status.json").get_json()["outbound"][0]["can_retry"]
    post(operator, f"/status/messages/{failing.uid}/retry")
    assert service.messages.get_message(failing.uid).state.value == "queued"

    post(operator, "/status/test-sms", modem="modem1", to="+447911123458", body="smsgw test")
    test = service.messages.list_messages(limit=1)[0][0]
    assert (test.to_number, test.body, test.pinned_modem) == ("+447911123458", "smsgw test", "modem1")
    post(operator, "/status/test-sms", modem="modem1", to="not a number", body="x")
    assert "notice-error" in operator.get("/").get_data(as_text=True)
    post(operator, "/status/modems/modem1/reset")  # no pool in this process: the service says so
    assert "no modem named" in operator.get("/").get_data(as_text=True)


def test_api_keys_created_once_and_revoked_from_the_page(operator, service, client):
    created = post(operator, "/status/keys", name="billing", scopes=["send", "read"])
    assert (created.status_code, created.headers["Location"]) == (302, "/")  # a reload makes no second key
    page = operator.get("/").get_data(as_text=True)
    token = re.search(r'<code id="new-key" class="key">([^<]+)</code>', page).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/messages", headers=headers).status_code == 200
    [key] = [k for k in operator.get("/status.json").get_json()["keys"] if k["name"] == "billing"]
    assert token not in operator.get("/status.json").get_data(as_text=True)
    assert token not in operator.get("/").get_data(as_text=True)
    post(operator, f"/status/keys/{key['id']}/revoke")
    assert client.get("/api/v1/messages", headers=headers).status_code == 401
    post(operator, "/status/keys", name="", scopes=["send"])
    assert "a key needs a name" in operator.get("/").get_data(as_text=True)


def test_admin_password_from_the_environment_is_set_once(settings, monkeypatch):
    from gateway.appliance.runtime import Gateway

    monkeypatch.setenv("SMSGW_ADMIN_PASSWORD", "from the environment")
    with Gateway(settings) as gateway:
        assert AdminAuth(gateway.store).check_password("from the environment")
    monkeypatch.setenv("SMSGW_ADMIN_PASSWORD", "a later value")
    with Gateway(settings) as gateway:  # one is set already: the variable does not replace it
        assert AdminAuth(gateway.store).check_password("from the environment")


def test_smsgw_admin_password_command(tmp_path, settings, store):
    import os

    env = {**os.environ, "SMSGW_DATABASE_URL": settings.database.url, "SMSGW_KEY_FILE": str(store.box_key.path)}
    done = subprocess.run([sys.executable, "-m", "gateway", "admin", "password", "--password", "s3cret-enough"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert AdminAuth(store).check_password("s3cret-enough")
    stored = store.engine.connect().exec_driver_sql("SELECT value FROM admin_settings "
                                                    "WHERE key = 'admin_password_hash'").scalar()
    assert stored.startswith("~s") and "s3cret-enough" not in stored  # sealed under the box key
    assert store.settings.get("admin_password_hash").startswith("scrypt:")
    short = subprocess.run([sys.executable, "-m", "gateway", "admin", "password", "--password", "short"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and "at least 8" in short.stderr


def test_an_address_that_is_no_page_gets_an_html_page_in_a_browser_and_json_elsewhere(operator, client):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    missing = operator.get("/no/such/page", headers=browser)
    assert missing.status_code == 404 and "Page not found" in missing.get_data(as_text=True)
    assert "text/html" in missing.headers["Content-Type"]
    opened = operator.get("/status/keys", headers=browser)  # a form's address opened directly
    assert opened.status_code == 405 and "not a page to open" in opened.get_data(as_text=True)
    assert client.get("/no/such/page").get_json()["error"]["code"] == "not_found"  # curl and API clients: JSON
    assert client.get("/api/v1/nothing", headers=browser).get_json()["error"]["code"] == "not_found"


def test_the_logged_in_browser_reads_the_api_for_its_pages_and_changes_nothing_through_it(operator, app, service):
    service.messages.send("+447911123456", "hello")
    assert operator.get("/api/v1/messages").get_json()["messages"][0]["to"] == "+447911123456"
    assert operator.get("/api/v1/rules").status_code == 200
    assert operator.post("/api/v1/messages", json={"to": "+447911123456", "body": "x"}).status_code == 401
    assert operator.get("/api/v1/audit").status_code in (401, 403)  # admin scope: a key only
    assert app.test_client().get("/api/v1/messages").status_code == 401  # no session, no key
