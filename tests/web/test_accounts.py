"""Accounts (departments) over the real app: an admin adds one with a quota and routes, gives it an API key and
a user; their sends count against it, leave only by its routes, and past its quota are refused with
`quota_exceeded` (429 with Retry-After for SMS parts, 402 for the budget) and nothing queued; a new day or month
starts afresh; every change is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.core.service import GatewayService
from gateway.values import ModemState
from tests.clock import Clock, at
from tests.web.test_users import PASSWORD, csrf_on, log_in_as

pytestmark = pytest.mark.both_databases


@pytest.fixture
def clock():
    return Clock(at(3, 31, 22))


@pytest.fixture
def service(store, settings, clock):
    for name, group in (("clinic1", "clinic"), ("clinic2", "clinic"), ("school1", "school")):
        store.modems.save_modem(name, f"/dev/{name}", clock(), state=ModemState.ONLINE, group=group)
    return GatewayService(store, settings.messaging, webhook_settings=settings.webhooks, clock=clock,
                          modem_costs={"clinic1": 2.0, "clinic2": 2.0, "school1": 1.0})


def add_account(client, auth, **fields):
    return client.post("/api/v1/accounts", json={"name": "clinic", **fields}, headers=auth)


def key_of(service, account: str | None):
    key, token = service.keys.create_key("reminders", ["send", "read"])
    service.accounts.assign_key(key.id, account)
    return {"Authorization": f"Bearer {token}"}


def send(client, key, to="+447911123456", body="Your appointment is at 10:00", **fields):
    return client.post("/api/v1/messages", json={"to": to, "body": body, **fields}, headers=key)


def test_sends_past_the_daily_quota_are_refused_and_a_new_day_starts_afresh(client, auth, service, clock):
    assert add_account(client, auth, per_day=3, per_month=100).status_code == 201
    key = key_of(service, "clinic")
    assert send(client, key, to=["+447911123456", "+447911123457"]).status_code == 202
    refused = send(client, key, to=["+447911123458", "+447911123459"])
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "quota_exceeded"
    assert int(refused.headers["Retry-After"]) == 2 * 3600  # midnight UTC
    assert "3 SMS parts a day: 2 used today" in refused.get_json()["error"]["message"]
    assert len(service.messages.list_messages()[0]) == 2  # nothing of the refused request was queued
    assert send(client, key, body="x" * 200).status_code == 429  # two parts: over by one
    assert send(client, key).status_code == 202
    used = client.get("/api/v1/accounts/clinic", headers=auth).get_json()["used"]
    assert used == {"today": 3, "this_month": 3, "cost_this_month": 0.0}

    clock.now += timedelta(hours=3)  # the next day, and the next month
    assert send(client, key).status_code == 202
    assert client.get("/api/v1/accounts/clinic", headers=auth).get_json()["used"]["this_month"] == 1


def test_a_one_time_code_past_the_quota_is_refused_and_leaves_no_code_behind(client, auth, service):
    from sqlalchemy import func, select

    from gateway.store.models import OtpCode

    assert add_account(client, auth, per_day=1).status_code == 201
    key = key_of(service, "clinic")
    assert client.post("/api/v1/otp", json={"to": "+447911123456"}, headers=key).status_code == 202
    refused = client.post("/api/v1/otp", json={"to": "+447911123457"}, headers=key)
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "quota_exceeded"
    with service.store.db.read() as s:
        assert s.scalar(select(func.count()).select_from(OtpCode)) == 1


def test_a_cancelled_message_gives_its_parts_back(client, auth, service, clock):
    add_account(client, auth, per_month=1)
    key = key_of(service, "clinic")
    later = (clock() + timedelta(hours=1)).isoformat()
    uid = send(client, key, send_at=later).get_json()["id"]
    assert send(client, key).status_code == 429
    assert client.delete(f"/api/v1/messages/{uid}", headers=key).status_code == 200
    assert send(client, key).status_code == 202


def test_an_expired_message_gives_its_parts_and_cost_back(client, auth, service, clock):
    add_account(client, auth, per_month=2, budget=2, routes=["clinic"])
    key = key_of(service, "clinic")
    assert send(client, key, validity=60).status_code == 202  # no modem takes it here: it waits
    assert client.get("/api/v1/accounts/clinic", headers=auth).get_json()["used"]["cost_this_month"] == 2.0
    clock.now += timedelta(minutes=2)
    assert service.store.outbox.release_due(clock()) == (0, 1)
    used = client.get("/api/v1/accounts/clinic", headers=auth).get_json()["used"]
    assert used == {"today": 0, "this_month": 0, "cost_this_month": 0.0}
    assert send(client, key).status_code == 202


def test_the_monthly_budget_counts_estimated_costs_and_refuses_with_402(client, auth, service):
    add_account(client, auth, budget=5, routes=["clinic"])
    key = key_of(service, "clinic")
    assert send(client, key, to=["+447911123456", "+447911123457"]).status_code == 202  # 2 × 2.0
    refused = send(client, key)
    assert refused.status_code == 402 and refused.get_json()["error"]["code"] == "quota_exceeded"
    assert "budget of 5 a month: 4 used, this costs 2" in refused.get_json()["error"]["message"]
    assert client.get("/api/v1/accounts/clinic", headers=auth).get_json()["used"]["cost_this_month"] == 4.0


def test_an_accounts_messages_leave_only_by_its_routes(client, auth, service):
    add_account(client, auth, routes=["clinic", "school1"])
    key = key_of(service, "clinic")
    free = send(client, key).get_json()
    assert service.messages.get_message(free["id"]).route_group == "clinic"  # the first route
    pinned = send(client, key, via="school1").get_json()
    assert service.messages.get_message(pinned["id"]).pinned_modem == "school1"
    assert send(client, key, via="clinic2").status_code == 202  # a modem of an allowed group
    refused = send(client, key, via="school")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "route_not_allowed"
    unlimited = {"Authorization": auth["Authorization"]}  # a key of no account: any route
    assert send(client, unlimited, via="school").status_code == 202


def test_an_accounts_keys_and_people_see_only_its_messages_and_campaigns(app, client, auth, service):
    add_account(client, auth)
    client.post("/api/v1/accounts", json={"name": "school"}, headers=auth)
    clinic, school = key_of(service, "clinic"), key_of(service, "school")
    ours = send(client, clinic, to="+447911123401").get_json()["id"]
    theirs = send(client, school, to="+447911123402").get_json()["id"]
    campaign = client.post("/api/v1/batches", data="to,body\n+447911123403,Closed on Monday\n",
                           headers={**school, "Content-Type": "text/csv"})
    assert campaign.status_code == 202, campaign.get_json()
    batch = campaign.get_json()["id"]

    listed = client.get("/api/v1/messages", headers=clinic).get_json()["messages"]
    assert [m["id"] for m in listed] == [ours]
    assert client.get(f"/api/v1/messages/{theirs}", headers=clinic).status_code == 404
    assert client.delete(f"/api/v1/messages/{theirs}", headers=clinic).status_code == 404
    assert service.messages.get_message(theirs).state.value == "queued"  # the refusal changed nothing
    assert client.get(f"/api/v1/batches/{batch}", headers=clinic).status_code == 404
    assert client.get(f"/api/v1/batches/{batch}", headers=school).status_code == 200
    assert len(client.get("/api/v1/messages", headers=auth).get_json()["messages"]) == 3  # no account: all

    service.admin.add_user("reception", "operator", PASSWORD, account_id=service.accounts.account_named("clinic").id)
    reception = app.test_client()
    assert log_in_as(reception, "reception").status_code == 302
    page = reception.get("/sent").get_data(as_text=True)
    assert ours in page and theirs not in page
    for answer in (reception.get(f"/sent/{theirs}", follow_redirects=True),
                   reception.get(f"/campaigns/{batch}", follow_redirects=True),
                   reception.post(f"/sent/{theirs}/cancel", data={"csrf_token": csrf_on(reception)},
                                  follow_redirects=True)):
        said = answer.get_data(as_text=True)  # as for one that does not exist
        assert "Closed on Monday" not in said and ("no message" in said or "no batch" in said), said[:300]
    assert service.messages.get_message(theirs).state.value == "queued"
    assert [m["id"] for m in reception.get("/status.json").get_json()["outbound"]] == [ours]


def test_an_accounts_templates_are_its_own_and_the_shared_ones_everyones(client, auth, service):
    add_account(client, auth)
    client.post("/api/v1/accounts", json={"name": "school"}, headers=auth)
    clinic, school = key_of(service, "clinic"), key_of(service, "school")
    key, token = service.keys.create_key("clinic-admin", ["admin", "send", "read"])  # templates need admin
    service.accounts.assign_key(key.id, "clinic")
    clinic_admin = {"Authorization": f"Bearer {token}"}
    shared = client.post("/api/v1/templates", json={"name": "closed", "body": "We are closed today."}, headers=auth)
    assert shared.status_code == 201 and shared.get_json()["shared"] is True
    own = client.post("/api/v1/templates", json={"name": "reminder", "body": "Dear {name}, see you at {time}."},
                      headers=clinic_admin)
    assert own.status_code == 201 and own.get_json()["shared"] is False

    def names(key):
        return [t["name"] for t in client.get("/api/v1/templates", headers=key).get_json()["templates"]]

    assert names(clinic) == ["closed", "reminder"] and names(school) == ["closed"] and names(auth) == names(clinic)
    assert client.get("/api/v1/templates/reminder", headers=school).status_code == 404

    def send_template(key, template, **params):
        return client.post("/api/v1/messages", json={"to": "+447911123456", "template": template,
                                                     **({"params": params} if params else {})}, headers=key)

    used = send_template(clinic, "reminder", name="Ann", time="10:00")
    assert used.status_code == 202, used.get_json()
    refused = send_template(school, "reminder", name="Ann", time="10:00")
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "template"
    assert send_template(school, "closed").status_code == 202
    assert client.put("/api/v1/templates/closed", json={"body": "Open!"}, headers=clinic_admin).status_code == 404
    assert client.delete("/api/v1/templates/reminder", headers=auth).status_code == 204  # no account: any


def test_an_operators_sends_from_the_pages_count_against_their_account(client, auth, service):
    add_account(client, auth, per_day=1)
    service.admin.add_user("reception", "operator", PASSWORD,
                           account_id=service.accounts.account_named("clinic").id)
    assert log_in_as(client, "reception").status_code == 302
    token = csrf_on(client)
    form = {"csrf_token": token, "to": "+447911123456", "body": "hi", "modem": "clinic1"}
    assert client.post("/status/test-sms", data=form).status_code == 302
    refused = client.post("/status/test-sms", data=form, follow_redirects=True)
    assert "may send 1 SMS parts a day" in refused.get_data(as_text=True)
    assert len(service.messages.list_messages()[0]) == 1


def test_accounts_are_changed_listed_removed_and_audited(client, auth, service):
    assert add_account(client, auth, per_day=-1).status_code == 400
    assert add_account(client, auth, name="no spaces").status_code == 400
    assert client.post("/api/v1/accounts", json={"per_day": 10}, headers=auth).status_code == 400  # no name
    assert add_account(client, auth, per_day=10).status_code == 201
    assert add_account(client, auth).get_json()["error"]["code"] == "account_exists"
    changed = client.put("/api/v1/accounts/clinic", json={"per_month": 500, "routes": ["clinic"]}, headers=auth)
    assert changed.get_json()["per_day"] is None and changed.get_json()["per_month"] == 500
    assert [a["name"] for a in client.get("/api/v1/accounts", headers=auth).get_json()["accounts"]] == ["clinic"]
    key = key_of(service, "clinic")
    assert client.get("/api/v1/accounts", headers=key).status_code == 403  # admin only
    assert client.delete("/api/v1/accounts/clinic", headers=auth).status_code == 204
    assert client.get("/api/v1/accounts/clinic", headers=auth).get_json()["error"]["code"] == "account_not_found"
    assert service.keys.list_keys()[-1].account_id is None  # the key now counts against none
    assert send(client, key).status_code == 202
    actions = [(e.action, e.target) for e in service.store.audit.list_audit()]
    assert {("account.added", "clinic"), ("account.changed", "clinic"), ("account.removed", "clinic")} <= set(actions)


def test_sends_racing_for_the_last_of_a_quota_never_overrun_it(service):
    """Twenty sends at once against 10 parts a day: the account's row is locked while each counts."""
    from concurrent.futures import ThreadPoolExecutor

    from gateway.rules.quota import QuotaExceeded

    account = service.accounts.add_account("clinic", per_day=10)

    def one(i: int) -> bool:
        try:
            service.messages.send(f"+4479111234{i:02d}", "hello", account=account)
            return True
        except QuotaExceeded:
            return False

    with ThreadPoolExecutor(8) as pool:
        sent = sum(pool.map(one, range(20)))
    assert sent == 10 and service.accounts.get_account("clinic")[1].day_parts == 10


def test_smsgw_accounts_adds_sets_lists_and_removes_and_keys_and_users_join_one(settings, store):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SMSGW_DATABASE_URL": settings.database.url, "SMSGW_KEY_FILE": str(store.box_key.path)}

    def smsgw(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gateway", *args], env=env, capture_output=True, text=True,
                              timeout=60)

    added = smsgw("accounts", "add", "clinic", "--per-day", "200", "--routes", "clinic,backup")
    assert added.returncode == 0 and "200 parts a day; routes: clinic, backup" in added.stdout, added.stderr
    assert "already an account" in smsgw("accounts", "add", "clinic").stderr
    changed = smsgw("accounts", "set", "clinic", "--per-month", "3000", "--budget", "150")
    assert "3000 parts a month, a budget of 150 a month; routes: any" in changed.stdout
    key = smsgw("keys", "create", "--name", "reminders", "--account", "clinic")
    assert key.returncode == 0 and "counted against account clinic" in key.stdout
    assert "no account 'school'" in smsgw("keys", "create", "--name", "x", "--account", "school").stderr
    user = smsgw("users", "add", "reception", "--password", PASSWORD, "--account", "clinic")
    assert "counts against account clinic" in user.stdout
    assert "no account 'school'" in smsgw("users", "add", "teacher", "--password", PASSWORD, "--account",
                                         "school").stderr
    assert [u.username for u in store.users.list_users()] == ["reception"]  # the refused one was not added
    listed = smsgw("accounts", "list").stdout.splitlines()
    assert listed[1].split() == ["clinic", "0", "0", "of", "3000", "0", "of", "150", "any"]
    assert smsgw("accounts", "remove", "clinic").returncode == 0
    assert store.users.get_user("reception").account_id is None
    assert [e.action for e in store.audit.list_audit()][:1] == ["account.removed"]
