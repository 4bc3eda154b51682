"""Routing: modem groups, route rules (prefix or region, cost, fallback), `via` a group, sticky replies, and
GET /api/v1/routes; pure Router tests, then the whole path over fake modems."""

from datetime import timezone, datetime

import pytest

from gateway.config import ConfigError, RouteSettings, settings_from_mapping
from gateway.routing import Router
from gateway.store.models import Modem, ModemState
from tests.conftest import wait_until

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
    assert explained["candidates"] == [{"name": "modem1", "group": "uk", "state": "online", "cost": 0.02},
                                       {"name": "modem2", "group": "uk", "state": "online", "cost": 0.02}]
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
