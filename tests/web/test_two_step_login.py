"""Two-step login: a user turns it on at /me with a code from an authenticator app (TOTP), then logs in with
their password and a code; a code opens one login only, a late or wrong code opens none and counts towards the
lockout; an admin (the page, or `smsgw users two-step-off`) turns it off for someone who lost their phone; a
user changes their own password. The codes are made here with pyotp at the service's clock."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest

from gateway.appliance import cli
from gateway.core.service import GatewayService
from tests.clock import Clock
from tests.web.test_users import PASSWORD, csrf_on, log_in_as


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store, settings, clock) -> GatewayService:
    service = GatewayService(store, settings.messaging, clock=clock, webhook_settings=settings.webhooks)
    service.admin.add_user("reception", "operator", PASSWORD)
    service.admin.add_user("head", "admin", PASSWORD)
    return service


def code_at(secret: str, clock: Clock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock().timestamp() + 30 * steps)


def turn_on(client, clock) -> str:
    """Set up two-step login for the logged-in user; its secret."""
    client.post("/me/two-step/start", data={"csrf_token": csrf_on(client, "/me")})
    page = client.get("/me").get_data(as_text=True)
    secret = re.search(r'id="two-step-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    answer = client.post("/me/two-step", data={"csrf_token": csrf_on(client, "/me"), "code": code_at(secret, clock)},
                         follow_redirects=True)
    assert "Two-step login is on" in answer.get_data(as_text=True)
    return secret


def set_up_two_step(app, clock) -> str:
    """Reception turns two-step login on in a browser of their own; the secret."""
    setup = app.test_client()
    log_in_as(setup, "reception")
    return turn_on(setup, clock)


def second_step(client, code: str):
    return client.post("/login/code", data={"csrf_token": csrf_on(client, "/login"), "code": code})


def test_a_user_sets_it_up_with_the_qr_code_and_a_wrong_code_changes_nothing(client, service, clock):
    assert log_in_as(client, "reception").status_code == 302
    assert 'id="two-step-state" data-state="off"' in client.get("/me").get_data(as_text=True)
    client.post("/me/two-step/start", data={"csrf_token": csrf_on(client, "/me")})
    page = client.get("/me").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page and 'id="two-step-qr"' in page
    wrong = client.post("/me/two-step", data={"csrf_token": csrf_on(client, "/me"), "code": "000000"},
                        follow_redirects=True)
    assert "That code does not match" in wrong.get_data(as_text=True)
    assert service.admin.user("reception").totp_secret is None
    client.get("/me")
    secret = turn_on(client, clock)
    assert service.admin.user("reception").totp_secret == secret
    assert client.get("/me").status_code == 200  # this session stays open
    assert 'id="two-step-state" data-state="on"' in client.get("/me").get_data(as_text=True)
    assert ("reception", "user.two_step_on") in [(e.actor, e.action) for e in service.store.audit.list_audit()]


def test_the_login_asks_for_a_code_and_each_code_opens_one_login(app, service, clock):
    secret = set_up_two_step(app, clock)
    clock.now += timedelta(seconds=90)

    first, second = app.test_client(), app.test_client()
    asked = log_in_as(first, "reception")
    assert asked.status_code == 200 and 'autocomplete="one-time-code"' in asked.get_data(as_text=True)
    assert first.get("/").status_code == 302  # the password alone opened nothing
    assert second_step(first, "123 45x").status_code == 401
    assert second_step(first, code_at(secret, clock, steps=-2)).status_code == 401  # a minute old
    assert second_step(first, code_at(secret, clock)).status_code == 302
    assert first.get("/").status_code == 200
    assert service.admin.user("reception").last_login_at == clock()

    log_in_as(second, "reception")
    assert second_step(second, code_at(secret, clock)).status_code == 401  # that code has opened a login
    clock.now += timedelta(seconds=30)
    assert second_step(second, code_at(secret, clock, steps=-1)).status_code == 401  # nor one before it
    spaced = code_at(secret, clock)
    assert second_step(second, f"{spaced[:3]} {spaced[3:]}").status_code == 302
    audit = [(e.actor, e.action) for e in service.store.audit.list_audit()]
    assert audit.count(("reception", "login.failed")) == 4
    assert audit.count(("reception", "login.succeeded")) == 3  # with the setup's


def test_a_late_code_and_a_code_without_a_password_open_nothing(app, service, clock):
    secret = set_up_two_step(app, clock)
    clock.now += timedelta(seconds=60)
    late, straight = app.test_client(), app.test_client()
    log_in_as(late, "reception")
    clock.now += timedelta(minutes=6)
    answer = second_step(late, code_at(secret, clock))
    assert answer.status_code == 401 and "That took too long" in answer.get_data(as_text=True)
    assert late.get("/").status_code == 302
    assert second_step(straight, code_at(secret, clock)).status_code == 401
    assert straight.get("/").status_code == 302


def test_wrong_codes_lock_the_address_out_like_wrong_passwords(app, service, clock):
    secret = set_up_two_step(app, clock)
    clock.now += timedelta(seconds=60)
    guesser = app.test_client()
    log_in_as(guesser, "reception")
    answers = [second_step(guesser, f"{n:06d}").status_code for n in range(6)]
    assert answers[:5] == [401] * 5 and answers[5] == 429
    assert second_step(guesser, code_at(secret, clock)).status_code == 429


def test_an_admin_turns_it_off_for_a_lost_phone_and_the_users_sessions_end(app, service, clock, settings, store,
                                                                           monkeypatch, capsys):
    reception, head = app.test_client(), app.test_client()
    log_in_as(reception, "reception")
    turn_on(reception, clock)
    log_in_as(head, "head")
    page = head.get("/settings").get_data(as_text=True)
    assert "Turn off two-step" in page
    answer = head.post("/settings/users/reception/two-step/off", data={"csrf_token": csrf_on(head, "/settings")},
                       follow_redirects=True)
    assert "reception logs in with the password alone now" in answer.get_data(as_text=True)
    assert reception.get("/").status_code == 302  # their session ended
    assert log_in_as(reception, "reception").status_code == 302  # the password alone again
    assert ("head", "user.two_step_off", "reception") in [
        (e.actor, e.action, e.target) for e in service.store.audit.list_audit()]

    turn_on(reception, clock)
    monkeypatch.setenv("SMSGW_DATABASE_URL", settings.database.url)
    monkeypatch.setenv("SMSGW_KEY_FILE", str(store.box_key.path))
    assert cli.main(["users", "two-step-off", "reception"]) == 0
    assert "logs in with the password alone now" in capsys.readouterr().out
    assert service.admin.user("reception").totp_secret is None


def test_a_user_turns_it_off_with_a_current_code(client, service, clock):
    log_in_as(client, "reception")
    secret = turn_on(client, clock)
    clock.now += timedelta(seconds=30)
    wrong = client.post("/me/two-step/off", data={"csrf_token": csrf_on(client, "/me"), "code": "999999"},
                        follow_redirects=True)
    assert "Wrong code" in wrong.get_data(as_text=True) and service.admin.user("reception").totp_secret
    client.post("/me/two-step/off", data={"csrf_token": csrf_on(client, "/me"), "code": code_at(secret, clock)})
    assert service.admin.user("reception").totp_secret is None
    assert 'id="two-step-state" data-state="off"' in client.get("/me").get_data(as_text=True)


def test_a_user_changes_their_own_password_and_their_other_sessions_end(app, service):
    here, elsewhere = app.test_client(), app.test_client()
    log_in_as(here, "reception")
    log_in_as(elsewhere, "reception")
    for form, refusal in (({"current": "wrong password", "new": "a new password!", "repeat": "a new password!"},
                           "That is not your current password."),
                          ({"current": PASSWORD, "new": "a new password!", "repeat": "another one!!"},
                           "The new password and its repetition differ."),
                          ({"current": PASSWORD, "new": "short", "repeat": "short"}, "A password needs at least 8")):
        answer = here.post("/me/password", data={"csrf_token": csrf_on(here, "/me"), **form}, follow_redirects=True)
        assert refusal in answer.get_data(as_text=True)
    changed = here.post("/me/password", data={"csrf_token": csrf_on(here, "/me"), "current": PASSWORD,
                                              "new": "a new password!", "repeat": "a new password!"})
    assert changed.status_code == 302 and here.get("/me").status_code == 200
    assert elsewhere.get("/").status_code == 302
    assert log_in_as(app.test_client(), "reception").status_code == 401
    assert log_in_as(app.test_client(), "reception", "a new password!").status_code == 302


def test_the_admin_password_has_no_login_of_its_own_to_change_here(client, service):
    service.admin.set_password(PASSWORD)
    assert log_in_as(client, "").status_code == 302
    assert "smsgw admin password" in client.get("/me").get_data(as_text=True)
    answer = client.post("/me/two-step/start", data={"csrf_token": csrf_on(client, "/me")}, follow_redirects=True)
    assert "The admin password is changed on the box" in answer.get_data(as_text=True)
