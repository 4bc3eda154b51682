"""Per-modem sending budgets (SIM plan caps): the pure window, and a worker over its cap leaving work to others."""

import time
from datetime import datetime, timedelta, timezone

import pytest

from gateway.rules.ratelimit import Bundle, SendBudget
from gateway.values import MessageState
from tests.clock import YEAR, at
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
    assert budget.free_at(T0 + timedelta(seconds=60), in_flight=1) == T0 + timedelta(seconds=70)  # one more going


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
    [held] = [m for m in map(api.message, ids) if m["state"] == "queued"]
    assert [h["state"] for h in held["history"]] == ["queued"]  # never claimed ahead only to be given back


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


def test_a_monthly_bundle_is_used_up_and_renews_on_its_day():
    bundle = Bundle(2, 15)
    bundle.record(at(11, 20))
    assert bundle.free_at(at(11, 20, 12)) is None
    assert bundle.free_at(at(11, 20, 12), in_flight=1) == at(12, 15)  # the last part is on its way
    bundle.record(at(11, 21))
    assert bundle.free_at(at(11, 21, 12)) == at(12, 15)  # used up: no work until it renews
    assert bundle.free_at(at(12, 15)) is None and bundle.used == 0
    assert bundle.period_start(at(12, 14)) == at(11, 15) and bundle.renews_at(at(12, 14)) == at(12, 15)
    assert Bundle(1, 1).renews_at(at(12, 31, 23)) == datetime(YEAR + 1, 1, 1, tzinfo=timezone.utc)
    assert Bundle().free_at(at(12, 1)) is None  # no bundle: never held


def test_a_sim_whose_bundle_is_used_up_takes_no_work_even_after_a_restart(configured_gateway):
    api, fakes, gateway = configured_gateway([{"bundle_sms": 2, "cost": 0.0}, {"cost": 1.0}])
    for i in range(3):
        [message] = gateway.service.messages.send(f"+44791112340{i}", f"message {i}")
        wait_until(lambda: gateway.service.messages.get_message(message.uid).state == MessageState.SENT)
    assert [len(f.sent) for f in fakes] == [2, 1]  # the cheaper SIM until its bundle ran out
    bundle = api.modems()["modem1"]["bundle"]
    assert (bundle["size"], bundle["used"]) == (2, 2) and bundle["resets_at"] > "2"
    gateway.alerts.check()
    assert [a.key for a in gateway.store.alerts.open_alerts()] == ["bundle_used:modem1"]
    gateway.stop()
    from gateway.appliance.runtime import Gateway

    with Gateway(gateway.settings).start(serve_http=False) as again:  # it counts what it sent this month again
        wait_until(lambda: [m.state.value for m in again.store.modems.list_modems()] == ["online", "online"],
                   timeout_s=20)
        [later] = again.service.messages.send("+447911123499", "after the restart")
        wait_until(lambda: again.service.messages.get_message(later.uid).state == MessageState.SENT)
    assert [len(f.sent) for f in fakes] == [2, 2]
