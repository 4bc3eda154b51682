"""People who log in as themselves: users added by an admin (the page, or `smsgw users`), each in a role that
decides what they may change (admin everything, operator sending and contacts, viewer nothing); a session ends
when its user is removed; every action is audited with the user's name."""

from __future__ import annotations

import pytest

from gateway.errors import UserExists, ValidationError
from tests.web.test_status_page import csrf_of

PASSWORD = "a long enough password"


def log_in_as(client, username: str, password: str = PASSWORD):
    return client.post("/login", data={"csrf_token": csrf_of(client), "username": username, "password": password})


def csrf_on(client, path: str = "/") -> str:
    page = client.get(path).get_data(as_text=True)
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


@pytest.fixture
def people(service):
    for name, role in (("reception", "operator"), ("governor", "viewer"), ("head", "admin")):
        service.admin.add_user(name, role, PASSWORD)
    return service


def test_users_log_in_with_their_own_password_and_wrong_ones_are_refused(client, people):
    assert log_in_as(client, "reception", "not their password").status_code == 401
    assert log_in_as(client, "nobody").status_code == 401
    assert log_in_as(client, "Reception").status_code == 302  # usernames are lower case
    assert client.get("/").status_code == 200
    assert {u.username: u.last_login_at is not None for u in people.admin.list_users()} == {
        "governor": False, "head": False, "reception": True}
    actions = [(e.actor, e.action) for e in people.store.audit.list_audit()]
    assert ("reception", "login.succeeded") in actions and ("reception", "login.failed") in actions


def test_an_operator_sends_and_keeps_contacts_but_may_not_create_keys_or_users(client, people):
    assert log_in_as(client, "reception").status_code == 302
    token = csrf_on(client)
    sent = client.post("/status/test-sms", data={"csrf_token": token, "to": "+447911123456", "body": "hi",
                                                  "modem": "modem1"})
    assert sent.status_code == 302
    added = client.post("/contacts", data={"csrf_token": token, "number": "+447911123457", "name": "Ann"})
    assert added.status_code == 302 and people.contacts.list_contacts()[0][0].name == "Ann"
    key = client.post("/status/keys", data={"csrf_token": token, "name": "mine", "scopes": ["send"]})
    assert key.status_code == 403 and "reception (operator)" in key.get_data(as_text=True)
    assert people.keys.list_keys() == []
    user = client.post("/settings/users", data={"csrf_token": token, "username": "x", "role": "admin",
                                                "password": PASSWORD})
    assert user.status_code == 403 and len(people.admin.list_users()) == 3
    assert ("reception", "contact.added") in [(e.actor, e.action) for e in people.store.audit.list_audit()]


def test_a_viewer_looks_and_changes_nothing(client, people):
    assert log_in_as(client, "governor").status_code == 302
    token = csrf_on(client)
    assert client.get("/contacts").status_code == 200 and client.get("/status.json").status_code == 200
    refused = client.post("/contacts", data={"csrf_token": token, "number": "+447911123457", "name": "Ann"})
    assert refused.status_code == 403 and people.contacts.list_contacts() == []
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def test_an_admin_adds_and_removes_users_on_the_settings_page_and_a_removed_users_session_ends(app, people):
    head, reception = app.test_client(), app.test_client()
    assert log_in_as(head, "head").status_code == 302 and log_in_as(reception, "reception").status_code == 302
    token = csrf_on(head, "/settings")
    added = head.post("/settings/users", data={"csrf_token": token, "username": "teacher", "role": "operator",
                                               "password": PASSWORD}, follow_redirects=True)
    assert "teacher (operator) may log in now." in added.get_data(as_text=True)
    assert head.post("/settings/users/reception/remove", data={"csrf_token": token}).status_code == 302
    assert reception.get("/").status_code == 302  # back to the login form: that user is gone
    assert [u.username for u in people.admin.list_users()] == ["governor", "head", "teacher"]
    audit = [(e.actor, e.action, e.target) for e in people.store.audit.list_audit()]
    assert ("head", "user.added", "teacher") in audit and ("head", "user.removed", "reception") in audit


def test_a_username_must_be_plain_unique_and_not_admin(people):
    for name in ("admin", "has space", ""):
        with pytest.raises(ValidationError):
            people.admin.add_user(name, "viewer", PASSWORD)
    with pytest.raises(ValidationError, match="role"):
        people.admin.add_user("new", "owner", PASSWORD)
    with pytest.raises(ValidationError, match="8 characters"):
        people.admin.add_user("new", "viewer", "short")
    with pytest.raises(UserExists):
        people.admin.add_user("Reception", "viewer", PASSWORD)


def test_smsgw_users_adds_lists_and_removes_people(settings, store):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SMSGW_DATABASE_URL": settings.database.url, "SMSGW_KEY_FILE": str(store.box_key.path)}

    def smsgw(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gateway", "users", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    added = smsgw("add", "reception", "--role", "viewer", "--password", PASSWORD)
    assert added.returncode == 0 and "user reception added (viewer)" in added.stdout, added.stderr
    again = smsgw("add", "reception", "--password", PASSWORD)
    assert again.returncode != 0 and "already a user" in again.stderr
    listed = smsgw("list")
    assert listed.returncode == 0 and "reception" in listed.stdout and "viewer" in listed.stdout
    assert smsgw("remove", "reception").returncode == 0
    missing = smsgw("remove", "reception")
    assert missing.returncode != 0 and "no user" in missing.stderr
    assert [(e.actor, e.action) for e in store.audit.list_audit()] == [("cli", "user.removed"), ("cli", "user.added")]
