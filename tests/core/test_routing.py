"""Routing: modem groups, route rules (prefix or region, cost, fallback), `via` a group, sticky replies, and
GET /api/v1/routes; pure Router tests, then the whole path over fake modems."""

import dataclasses
from datetime import datetime, timezone

import pytest

from gateway.config import ConfigError, RouteSettings, settings_from_mapping
from gateway.rules.routing import Router
from gateway.store.models import Modem
from gateway.values import MessageState, ModemState
from tests.conftest import wait_until

pytestmark = pytest.mark.both_databases  # every test here runs on SQLite and on PostgreSQL

UK, FR, GR = "+447812345678", "+33612345678", "+306912345678"


def _modem(name, group, state=ModemState.ONLINE):
    return Modem(name=name, port="/dev/null", state=state, group=group, updated_at=datetime.now(timezone.utc))


def test_config_reads_routes_and_modem_groups():
    settings = settings_from_mapping({
        "modems": [{"name": "m1", "port": "/dev/ttyUSB0", "group": "uk", "max_per_minute": 10}],
        "routes": [{"match": "+44", "group": "uk", "cost": 0.02, "fallback": "default"},
                   {"match": "FR", "group": "fr"}]})
    assert settings.modems[0].group == "uk" and settings.modems[0].max_per_minute == 10
    assert settings.routes == (RouteSettings("+44", "uk", 0.02, "default"), RouteSettings("FR", "fr"))
    for bad in ({"match": "44", "group": "uk"}, {"match": "+44", "group": "uk", "price": 1}):
        with pytest.raises(ConfigError):
            settings_from_mapping({"routes": [bad]})


def test_rules_go_cheapest_then_most_specific_then_in_order():
    router = Router([RouteSettings("GB", "uk-region", 0.02), RouteSettings("+44", "uk", 0.02),
                     RouteSettings("+447812", "uk-mobile", 0.02), RouteSettings("+4478", "cheap", 0.01)])
    assert [r.group for r in router.rules_for(UK)] == ["cheap", "uk-mobile", "uk", "uk-region"]
    assert router.rules_for(FR) == []


def test_the_first_rule_with_an_online_modem_wins_else_fallback_else_wait():
    router = Router([RouteSettings("+44", "uk", 0.01, fallback="default"), RouteSettings("GB", "backup", 0.05)])
    modems = [_modem("a", "uk", ModemState.OFFLINE), _modem("b", "backup"), _modem("c", None)]
    route = router.route(UK, modems)
    assert (route.group, route.rule.match, [c.name for c in route.candidates]) == ("backup", "GB", ["b"])
    route = router.route(UK, modems[:1] + modems[2:])  # no backup modem: the fallback group
    assert route.group == "default" and "fallback" in route.reason
    route = router.route(UK, modems[:1])  # nothing online at all: waits for its group
    assert route.group == "uk" and "waits" in route.reason and route.candidates[0].state == "offline"
    assert router.route(FR, modems).group is None  # no rule: any modem


def test_sticky_prefers_the_modem_they_wrote_to_while_it_is_online():
    router = Router([RouteSettings("+44", "uk")])
    modems = [_modem("a", "uk"), _modem("b", None)]
    assert router.route(UK, modems, sticky_modem="b").modem == "b"
    modems[1].state = ModemState.OFFLINE
    route = router.route(UK, modems, sticky_modem="b")
    assert (route.modem, route.group) == (None, "uk")


@pytest.fixture
def routed(configured_gateway, settings):
    def start(routes, modems, **kwargs):
        return configured_gateway(modems, settings_override=settings.replace(routes=tuple(routes)), **kwargs)

    return start


def test_rules_send_each_country_through_its_group_and_via_names_a_group(routed):
    api, fakes, _ = routed([RouteSettings("+44", "uk", 0.02), RouteSettings("FR", "intl", 0.05)],
                           [{"group": "uk"}, {"group": "intl"}, {}])
    uk = [api.send(f"+4478123456{i:02d}", f"uk {i}")["id"] for i in range(4)]
    fr = api.send(FR, "bonjour")["id"]
    assert {api.wait_state(uid, "sent")["modem"] for uid in uk} == {"modem1"}
    assert api.wait_state(fr, "sent")["modem"] == "modem2"
    via = api.send(UK, "through intl", via="intl")
    assert via["route_group"] == "intl" and api.wait_state(via["id"], "sent")["modem"] == "modem2"
    response = api.session.post(f"{api.base}/messages", json={"to": UK, "body": "x", "via": "nowhere"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "unknown_modem")
    assert api.modems()["modem1"]["group"] == "uk"


def test_a_group_with_no_modem_fails_over_to_its_fallback_or_waits(routed):
    api, fakes, _ = routed([RouteSettings("GR", "greece", fallback="intl"), RouteSettings("+44", "uk")],
                           [{"group": "intl"}])
    assert api.wait_state(api.send(GR, "γεια")["id"], "sent")["modem"] == "modem1"
    waiting = api.send(UK, "no uk modem")
    assert waiting["route_group"] == "uk"
    explained = api.session.get(f"{api.base}/routes", params={"to": UK}).json()
    assert explained["group"] == "uk" and "waits" in explained["reason"] and explained["candidates"] == []
    assert api.message(waiting["id"])["state"] == "queued" and len(fakes[0].sent) == 1


def test_routes_explains_rule_group_and_candidates(routed):
    api, fakes, _ = routed([RouteSettings("+44", "uk", 0.02, fallback="default")],
                           [{"group": "uk"}, {"group": "uk"}, {}])
    explained = api.session.get(f"{api.base}/routes", params={"to": "07812 345678"}).json()
    assert explained["to"] == UK and explained["group"] == "uk"
    assert explained["rule"] == {"match": "+44", "group": "uk", "cost": 0.02, "fallback": "default"}
    assert explained["candidates"] == [
        {"name": "modem1", "group": "uk", "state": "online", "cost": 0.02, "modem_cost": 0.0, "towards": None,
         "overall": None, "deferred": None},  # nothing measured yet: no reported part
        {"name": "modem2", "group": "uk", "state": "online", "cost": 0.02, "modem_cost": 0.0, "towards": None,
         "overall": None, "deferred": None}]
    assert api.session.get(f"{api.base}/routes").status_code == 400


def test_a_reply_goes_out_on_the_modem_the_conversation_came_in_on(routed):
    api, fakes, _ = routed([], [{}, {}, {}])
    fakes[2].inject_sms(UK, "hello there")
    wait_until(lambda: api.inbox())
    replies = [api.send(UK, f"reply {i}")["id"] for i in range(3)]
    assert {api.wait_state(uid, "sent")["modem"] for uid in replies} == {"modem3"}
    assert api.wait_state(api.send(UK, "via wins", via="modem1")["id"], "sent")["modem"] == "modem1"
    explained = api.session.get(f"{api.base}/routes", params={"to": UK}).json()
    assert explained["modem"] == "modem3" and "sticky" in explained["reason"]


# --- failover after enqueue: a queued message leaves a group that lost its modems --------------------------

def _queue_for(store, group, fallback, count=1, now=None, via_modem=None):
    from gateway.values import MessageDraft

    drafts = [MessageDraft(to_number=f"+4478123456{i:02d}", body="hi", encoding="gsm7", parts=("hi",),
                           delivery_report=False, route_group=group, fallback_group=fallback, via_modem=via_modem)
              for i in range(count)]
    return store.outbox.enqueue(drafts, now or datetime.now(timezone.utc))


def test_failover_moves_each_queued_message_once_and_only_to_an_online_fallback(store, database_url):
    from concurrent.futures import ThreadPoolExecutor

    from gateway.store import Store

    now = datetime.now(timezone.utc)
    store.modems.save_modem("uk1", "/dev/null", now, state=ModemState.OFFLINE, group="uk")
    store.modems.save_modem("intl1", "/dev/null", now, state=ModemState.ONLINE, group="intl")
    store.modems.save_modem("fr1", "/dev/null", now, state=ModemState.ONLINE, group="fr")
    store.modems.save_modem("de1", "/dev/null", now, state=ModemState.CONNECTING, group="de")
    moving = _queue_for(store, "uk", "intl", count=40, now=now)
    staying = [*_queue_for(store, "uk", None), *_queue_for(store, "fr", "intl"), *_queue_for(store, "uk", "mars"),
               *_queue_for(store, "uk", "intl", via_modem="uk1"),  # pinned: its first part left on uk1
               *_queue_for(store, "de", "intl")]  # de's modem is (re)connecting: it is not down
    boxes = [store, Store.from_url(database_url, key_file=store.box_key.path)]  # a second box on the same database
    try:
        with ThreadPoolExecutor(2) as race:
            assert sum(race.map(lambda box: box.outbox.fail_over(now), boxes)) == 40
    finally:
        boxes[1].close()
    assert store.outbox.fail_over(now) == 0
    for message in (store.outbox.get_message(m.uid) for m in moving):
        assert (message.state, message.route_group, message.fallback_group) == (MessageState.QUEUED, "intl", None)
        [moved] = [e for e in message.events if e.detail and "failover" in e.detail]
        assert moved.state == "queued" and "fallback group intl" in moved.detail
    assert [store.outbox.get_message(m.uid).route_group for m in staying] == ["uk", "fr", "uk", "uk", "de"]


def test_a_queued_message_fails_over_when_its_group_goes_down_later(configured_gateway, settings):
    from gateway.config import PoolSettings

    quick_health = settings.replace(routes=(RouteSettings("+44", "uk", fallback="intl"),), pool=PoolSettings(
        send_timeout_s=5, command_timeout_s=2, health_interval_s=0.3, reconnect_min_s=0.2, reconnect_max_s=1.0))
    api, fakes, _ = configured_gateway([{"group": "uk", "max_per_minute": 1}, {"group": "intl"}],
                                       settings_override=quick_health)
    assert api.wait_state(api.send(UK, "first")["id"], "sent")["modem"] == "modem1"
    waiting = api.send(UK, "second: modem1 is over its cap")  # uk is online: it waits for uk
    assert (waiting["state"], waiting["route_group"]) == ("queued", "uk")
    fakes[0].set_registration(0)  # uk's only modem loses the network
    sent = api.wait_state(waiting["id"], "sent")
    assert (sent["modem"], sent["route_group"]) == ("modem2", "intl")
    assert [h["state"] for h in sent["history"] if h["part"] is None] == ["queued", "queued", "sending", "sent"]
    assert "fallback group intl" in sent["history"][1]["detail"]
    assert [len(f.sent) for f in fakes] == [1, 1]


# --- cost at claim time: of the modems ready to send a message, the cheapest does ---------------------------

def test_the_cheapest_ready_modem_sends_and_a_dearer_one_takes_what_waits_while_it_is_busy(configured_gateway):
    api, fakes, _ = configured_gateway([{"cost": 0.05}, {"cost": 0.01}], latency_ms=1000)
    explained = api.session.get(f"{api.base}/routes", params={"to": "+447812345600"}, timeout=10).json()
    assert [(c["name"], c["modem_cost"]) for c in explained["candidates"]] == [("modem2", 0.01), ("modem1", 0.05)]
    for i in range(2):  # both idle: modem1 is woken first, yet leaves each message to the cheaper modem2
        assert api.wait_state(api.send(f"+4478123456{i:02d}", f"one {i}")["id"], "sent")["modem"] == "modem2"
    burst = [m["id"] for m in api.send([f"+4478123457{i:02d}" for i in range(3)], "burst")["messages"]]
    modems = [api.wait_state(uid, "sent")["modem"] for uid in burst]
    assert modems[0] == "modem2" and "modem1" in modems, modems  # after the grace, while modem2 is busy
    assert [len(f.sent) for f in fakes] == [modems.count("modem1"), 2 + modems.count("modem2")]


def test_a_campaigns_cost_estimate_takes_each_numbers_rule_or_its_modems_cost_inside_its_accounts_routes(routed):
    _, _, gateway = routed([RouteSettings("+44", "uk", 0.02)], [{"group": "uk", "cost": 0.3}, {"cost": 0.1}])
    going, _ = gateway.service.batches.plan_for_contacts([(UK, "Ann", {}), (FR, "Zoé", {})], body="x" * 200)
    # the rule prices the UK number; no rule for France: the cheapest modem that would claim it does (2 parts each)
    assert gateway.service.batches.cost_estimate(going) == pytest.approx(2 * 0.02 + 2 * 0.1)
    school = gateway.service.accounts.add_account("school", routes=["modem2"])
    assert gateway.service.batches.cost_estimate(going, school) == pytest.approx(4 * 0.1)  # only modem2 may send
    assert gateway.service.batches.cost_estimate(going, via="modem1") == pytest.approx(4 * 0.3)


# --- an admin changes a modem's label, group, cost and caps while the box runs ------------------------------

def test_an_admin_changes_a_modems_cost_and_group_and_its_worker_takes_them_up_at_once(configured_gateway, settings):
    # no sweep or health poll falls due: the cheaper modem claims within the dearer one's grace (0.5 s) on a busy box
    unhurried = settings.replace(pool=dataclasses.replace(settings.pool, sweep_interval_s=60, health_interval_s=60))
    api, fakes, gateway = configured_gateway([{"cost": 0.05}, {"cost": 0.01}], settings_override=unhurried)

    def change(name, **fields):
        return api.session.put(f"{api.base}/modems/{name}/settings", json=fields, timeout=10)

    def first_candidate():
        explained = api.session.get(f"{api.base}/routes", params={"to": UK}, timeout=10).json()
        return [(c["name"], c["modem_cost"]) for c in explained["candidates"]][0]

    assert first_candidate() == ("modem2", 0.01)
    answer = change("modem1", label="Reception's SIM", cost=0.001)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["label"], body["changed"]["cost"], body["group"]) == ("Reception's SIM", 0.001, "default")
    assert first_candidate() == ("modem1", 0.001)
    assert api.wait_state(api.send(UK, "the cheaper SIM now")["id"], "sent")["modem"] == "modem1"

    refused = api.session.post(f"{api.base}/messages", json={"to": UK, "body": "x", "via": "uk"}, timeout=10)
    assert refused.status_code == 422  # no modem is in group uk yet
    assert change("modem2", group="uk", max_per_minute=5).status_code == 200
    assert api.modems()["modem2"]["group"] == "uk"
    assert api.wait_state(api.send(UK, "by the uk group", via="uk")["id"], "sent")["modem"] == "modem2"
    assert gateway.pool.worker("modem2").modem.max_per_minute == 5

    assert change("modem2").json()["changed"] == {"group": None, "cost": None, "max_per_minute": None,
                                                  "max_per_hour": None}  # all as the config says again
    assert api.modems()["modem2"]["group"] == "default" and gateway.pool.worker("modem2").modem.max_per_minute == 0
    for fields, field in (({"group": "two words"}, "group"), ({"cost": -1}, "cost"),
                          ({"max_per_hour": 1.5}, "max_per_hour"), ({"label": "x" * 65}, "label")):
        bad = change("modem1", **fields)
        assert (bad.status_code, bad.json()["error"]["field"]) == (400, field), fields
    assert change("modem9", cost=1).status_code == 404
    assert api.modems()["modem1"]["changed"]["cost"] == 0.001  # the refusals changed nothing
    assert [e.target for e in gateway.store.audit.list_audit() if e.action == "modem.changed"] == ["modem2"] * 2 + [
        "modem1"]


def test_another_box_takes_up_a_change_at_its_modems_next_health_poll(configured_gateway, settings):
    from gateway.config import PoolSettings

    quick = settings.replace(pool=PoolSettings(send_timeout_s=5, command_timeout_s=2, health_interval_s=0.3,
                                               reconnect_min_s=0.2, reconnect_max_s=1.0))
    api, _, gateway = configured_gateway([{"cost": 0.05}], settings_override=quick)
    gateway.store.modems.change_modem("modem1", {"label": None, "changed_group": "elsewhere", "changed_cost": 0.2,
                                                 "changed_per_minute": None, "changed_per_hour": 3})
    wait_until(lambda: gateway.pool.worker("modem1").modem.group == "elsewhere")  # as another box's API wrote it
    assert (gateway.pool.worker("modem1").modem.cost, gateway.pool.worker("modem1").modem.max_per_hour) == (0.2, 3)


def test_an_admin_replaces_the_route_rules_while_the_box_runs_and_can_go_back_to_the_configs(routed):
    api, fakes, gateway = routed([RouteSettings("+44", "uk", 0.02)], [{"group": "uk"}, {"group": "intl"}])

    def put(rules):
        return api.session.put(f"{api.base}/settings/routes", json={"rules": rules}, timeout=10)

    assert api.session.get(f"{api.base}/settings/routes", timeout=10).json() == {
        "rules": [{"match": "+44", "group": "uk", "cost": 0.02, "fallback": ""}], "changed": False}
    assert api.wait_state(api.send(UK, "by the config's rule")["id"], "sent")["modem"] == "modem1"
    answer = put([{"match": "gb", "group": "intl", "cost": 0.01}])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"rules": [{"match": "GB", "group": "intl", "cost": 0.01, "fallback": ""}],
                             "changed": True}
    assert api.wait_state(api.send(UK, "by the new rule")["id"], "sent")["modem"] == "modem2"  # at once, here
    for rules, field in (([{"match": "44", "group": "uk"}], "rules[0].match"),
                         ([{"match": "+44", "group": "uk", "cost": -1}], "rules[0].cost"),
                         ([{"match": "+44"}], "rules[0].group")):
        bad = put(rules)
        assert (bad.status_code, bad.json()["error"]["field"]) == (400, field), bad.text
    assert put(None).json()["changed"] is False
    assert api.wait_state(api.send(UK, "by the config's again")["id"], "sent")["modem"] == "modem1"
    assert [e.action for e in gateway.store.audit.list_audit()].count("settings.routes") == 2
