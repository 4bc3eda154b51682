"""Per-modem sending budgets (SIM plan caps): the pure window, and a worker over its cap leaving work to others."""

import time
from datetime import timedelta

import pytest

from gateway.rules.ratelimit import SendBudget
from tests.clock import at
from tests.conftest import wait_until

pytestmark = pytest.mark.both_databases  # every test here runs on SQLite and on PostgreSQL

T0 = at(11, 26, 9, 0, 0)


def test_no_limit_never_waits():
    budget = SendBudget()
    for i in range(1000):
        budget.record(T0)
    assert budget.free_at(T0) is None and not budget.is_limited


def test_per_minute_cap_frees_when_the_oldest_leaves_the_window():
    budget = SendBudget(per_minute=2)
    budget.record(T0)
    assert budget.free_at(T0 + timedelta(seconds=1)) is None
    budget.record(T0 + timedelta(seconds=10))
    assert budget.free_at(T0 + timedelta(seconds=20)) == T0 + timedelta(seconds=60)
    assert budget.free_at(T0 + timedelta(seconds=60)) is None


def test_the_hour_cap_holds_after_the_minute_frees():
    budget = SendBudget(per_minute=2, per_hour=3)
    for s in (0, 1, 61):
        budget.record(T0 + timedelta(seconds=s))
    assert budget.free_at(T0 + timedelta(seconds=130)) == T0 + timedelta(hours=1)
    assert budget.free_at(T0 + timedelta(hours=1, seconds=1)) is None


def test_a_budget_starts_from_what_was_sent_before():
    budget = SendBudget(per_minute=2, per_hour=3, sent=[T0, T0 + timedelta(seconds=10)])
    assert budget.free_at(T0 + timedelta(seconds=20)) == T0 + timedelta(seconds=60)
    budget.record(T0 + timedelta(seconds=70))
    assert budget.free_at(T0 + timedelta(seconds=80)) == T0 + timedelta(hours=1)
    assert not SendBudget(sent=[T0]).is_limited


def test_a_modem_over_its_cap_leaves_the_work_to_the_others(configured_gateway):
    api, fakes, _ = configured_gateway([{"max_per_minute": 1}, {}], latency_ms=50)
    ids = [api.send(f"+4479111234{i:02d}", f"m{i}")["id"] for i in range(5)]
    modems = [api.wait_state(uid, "sent")["modem"] for uid in ids]
    assert modems.count("modem1") <= 1 and len(fakes[0].sent) <= 1


def test_a_lone_modem_over_its_cap_holds_the_rest_queued(configured_gateway):
    api, fakes, gateway = configured_gateway([{"max_per_minute": 2}])
    ids = [api.send(f"+4479111234{i:02d}", f"m{i}")["id"] for i in range(3)]
    wait_until(lambda: len(fakes[0].sent) == 2)
    time.sleep(0.5)
    assert len(fakes[0].sent) == 2
    assert sorted(api.message(uid)["state"] for uid in ids) == ["queued", "sent", "sent"]


def test_the_cap_holds_across_a_restart(configured_gateway):
    from gateway.appliance.runtime import Gateway
    from gateway.rules.apikeys import SCOPES
    from tests.api_client import Api

    api, fakes, gateway = configured_gateway([{"max_per_minute": 2}])
    for i in range(2):
        api.wait_state(api.send(f"+4479111234{i:02d}", f"m{i}")["id"], "sent")
    gateway.stop()
    with Gateway(gateway.settings).start() as again:  # the same database and modem, a new process's memory
        api = Api(again, again.service.keys.create_key("after", list(SCOPES))[1])
        wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")
        third = api.send("+447911123499", "over the cap")
        time.sleep(0.5)
        assert api.message(third["id"])["state"] == "queued" and len(fakes[0].sent) == 2


# --- per-API-key request limits: counted in the database ------------------------------------------

def _api(store, settings, clock):
    from gateway.config import MessagingSettings
    from gateway.core.service import GatewayService
    from web import create_app

    service = GatewayService(store, MessagingSettings(api_requests_per_minute=3), clock=clock)
    app = create_app(settings, service)
    app.config["TESTING"] = True
    return service, app.test_client()


def test_a_key_over_its_requests_per_minute_gets_429_with_retry_after(store, settings):
    from gateway.rules.apikeys import SCOPES

    now = [T0 + timedelta(seconds=45)]
    service, client = _api(store, settings, lambda: now[0])
    key = {"Authorization": f"Bearer {service.keys.create_key('busy', list(SCOPES))[1]}"}
    other = {"Authorization": f"Bearer {service.keys.create_key('quiet', list(SCOPES))[1]}"}
    assert [client.get("/api/v1/modems", headers=key).status_code for _ in range(3)] == [200] * 3
    refused = client.get("/api/v1/modems", headers=key)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "15"
    assert client.get("/api/v1/modems", headers=other).status_code == 200
    _, restarted = _api(store, settings, lambda: now[0])  # another process on the same database
    assert restarted.get("/api/v1/modems", headers=key).status_code == 429
    now[0] = T0 + timedelta(minutes=1)
    assert client.get("/api/v1/modems", headers=key).status_code == 200
    assert service.keys.forget_request_counts() == 0  # the last window only ended now
    now[0] = T0 + timedelta(minutes=3)
    assert service.keys.forget_request_counts() == 3  # busy and quiet at T0, busy at T0+1 min
