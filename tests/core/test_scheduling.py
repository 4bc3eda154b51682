"""Scheduling (send_at), validity, priority and quiet hours: the pure parsers, the store's verbs, and the whole
path (HTTP → store → pool → fake_modem)."""

import dataclasses
import time
from datetime import datetime, timedelta, timezone

import pytest

from gateway.errors import ValidationError
from gateway.rules.timing import parse_priority, parse_quiet_window, parse_send_at, parse_validity, quiet_hold, zones_of
from gateway.values import MessageDraft, MessageState
from tests.clock import YEAR, Clock, at
from tests.conftest import utc, wait_until

pytestmark = pytest.mark.both_databases  # every test here runs on SQLite and on PostgreSQL

NOW = at(11, 26, 9, 0, 0)


# --- pure ----------------------------------------------------------------------------------------

def test_send_at_takes_an_offset_or_a_local_time_with_its_zone():
    assert parse_send_at("2026-11-26T10:00:00+01:00") == utc(2026, 11, 26, 9, 0)
    assert parse_send_at("2026-07-01T10:00:00", "Europe/London") == utc(2026, 7, 1, 9, 0)  # BST
    assert parse_send_at("2026-12-01T10:00:00", "Europe/London") == utc(2026, 12, 1, 10, 0)  # GMT
    assert parse_send_at(None) is None


@pytest.mark.parametrize("value, zone, field", [
    ("tomorrow", None, "send_at"), ("2026-11-26T10:00:00", None, "send_at"),
    ("2026-11-26T10:00:00", "Mars/Olympus", "time_zone"), ("2026-11-26T10:00:00Z", "Europe/Paris", "time_zone"),
    (None, "Europe/Paris", "time_zone"),
])
def test_send_at_refuses_what_it_cannot_place(value, zone, field):
    with pytest.raises(ValidationError) as info:
        parse_send_at(value, zone)
    assert info.value.field == field


def test_validity_is_seconds_or_an_iso_duration():
    assert parse_validity(600) == timedelta(minutes=10)
    assert parse_validity("PT10M") == timedelta(minutes=10)
    assert parse_validity("P1DT2H30S") == timedelta(days=1, hours=2, seconds=30)
    assert parse_validity(None) is None
    for bad in ("10 minutes", "P", "PT", 0, -5, "P90D", True):
        with pytest.raises(ValidationError):
            parse_validity(bad)


def test_priority_names():
    assert [parse_priority(p) for p in ("high", "normal", "bulk", None)] == [0, 1, 2, 1]
    with pytest.raises(ValidationError):
        parse_priority("urgent")


# --- store ---------------------------------------------------------------------------------------

def _draft(to="+447911123456", **kwargs):
    return MessageDraft(to_number=to, body="hi", encoding="gsm7", parts=("hi",), delivery_report=False, **kwargs)


def test_a_scheduled_message_is_claimed_only_once_released_at_its_time(store):
    [held] = store.outbox.enqueue([_draft(send_at=NOW + timedelta(minutes=5))], NOW)
    assert held.state == MessageState.SCHEDULED
    assert store.outbox.claim_next("m1", NOW + timedelta(minutes=6), 60) is None  # not queued yet
    assert store.outbox.next_scheduled_at() == NOW + timedelta(minutes=5)
    assert store.outbox.release_due(NOW + timedelta(minutes=4)) == (0, 0)
    assert store.outbox.release_due(NOW + timedelta(minutes=5)) == (1, 0)
    assert store.outbox.claim_next("m1", NOW + timedelta(minutes=5), 60).message_id == held.id
    states = [e.state for e in store.outbox.get_message(held.uid).events]
    assert states == ["scheduled", "queued", "sending"]


def test_a_message_past_its_validity_is_never_claimed_and_expires_with_an_event(store):
    store.events.add_webhook("http://127.0.0.1:9/hook", ["message.expired"], NOW)
    [short] = store.outbox.enqueue([_draft(expires_at=NOW + timedelta(seconds=30))], NOW)
    assert store.outbox.claim_next("m1", NOW + timedelta(seconds=31), 60) is None
    assert store.outbox.next_due_at("m1", NOW + timedelta(seconds=31)) is None  # no busy wake for it
    assert store.outbox.release_due(NOW + timedelta(seconds=31)) == (0, 1)
    expired = store.outbox.get_message(short.uid)
    assert expired.state == MessageState.EXPIRED and expired.error_code == "expired"
    [delivery] = store.events.claim_deliveries(NOW + timedelta(seconds=31), 10, 60)
    assert delivery.event_type == "message.expired" and short.uid.encode() in delivery.body


def test_high_priority_is_claimed_before_earlier_bulk(store):
    bulk = store.outbox.enqueue([_draft(f"+4479111234{i:02d}", priority=2) for i in range(5)], NOW)
    [otp] = store.outbox.enqueue([_draft(priority=0)], NOW)
    assert store.outbox.claim_next("m1", NOW, 60).message_id == otp.id
    assert store.outbox.claim_next("m1", NOW, 60).message_id == bulk[0].id


# --- whole path ----------------------------------------------------------------------------------

def test_a_message_scheduled_two_seconds_ahead_goes_out_within_a_second_of_its_time(configured_gateway):
    api, fakes, _ = configured_gateway([{}])
    send_at = datetime.now(timezone.utc) + timedelta(seconds=2)
    created = api.send("+447911123456", "later", send_at=send_at.isoformat())
    assert created["state"] == "scheduled"
    sent = api.wait_state(created["id"], "sent", timeout_s=10)
    sent_at = datetime.fromisoformat(sent["sent_at"].replace("Z", "+00:00"))
    assert send_at <= sent_at < send_at + timedelta(seconds=1), (send_at, sent_at)
    assert [h["state"] for h in sent["history"] if h["part"] is None] == ["scheduled", "queued", "sending", "sent"]


def test_a_scheduled_message_can_be_cancelled_and_a_bad_send_at_is_refused(configured_gateway):
    api, fakes, gateway = configured_gateway([{}])
    next_year = gateway.service.clock().year + 1
    created = api.send("+447911123456", "never", send_at=f"{next_year}-01-01T09:00:00", time_zone="Europe/Paris")
    assert created["state"] == "scheduled"
    assert api.session.delete(f"{api.base}/messages/{created['id']}").json()["state"] == "cancelled"
    response = api.session.post(f"{api.base}/messages", json={"to": "+447911123456", "body": "x",
                                                              "send_at": "2026-11-26T09:00:00"})
    assert (response.status_code, response.json()["error"]["field"]) == (400, "send_at")


def test_a_message_that_cannot_go_in_time_expires(configured_gateway, settings):
    from gateway.config import PoolSettings

    quick_health = settings.replace(pool=PoolSettings(send_timeout_s=5, command_timeout_s=2, health_interval_s=0.3,
                                                      reconnect_min_s=0.2, reconnect_max_s=1.0))
    api, fakes, gateway = configured_gateway([{}], settings_override=quick_health)
    fakes[0].set_registration(0)  # the only modem loses the network: nothing can go
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "not_registered")
    created = api.send("+447911123456", "too late", validity=1)
    gateway.pool.release_due()  # what the periodic job does; too early: still waiting
    assert api.message(created["id"])["state"] == "queued"
    time.sleep(1.1)
    gateway.pool.release_due()
    expired = api.message(created["id"])
    assert expired["state"] == "expired" and expired["error"]["code"] == "expired"
    assert not fakes[0].sent


def test_a_high_message_overtakes_a_running_bulk_batch(configured_gateway, settings):
    from gateway.config import MessagingSettings

    bigger = settings.replace(messaging=MessagingSettings(max_recipients=50))
    api, fakes, _ = configured_gateway([{}], settings_override=bigger, latency_ms=300)
    batch = api.send([f"+4479111234{i:02d}" for i in range(8)], "campaign", priority="bulk")
    wait_until(lambda: len(fakes[0].sent) >= 2)
    otp = api.send("+447911123999", "code 123456", priority="high")
    in_hand = len(fakes[0].sent)  # the modem's (the fake counts a message once its PDU came)
    api.wait_state(otp["id"], "sent")
    order = [s.number for s in fakes[0].sent]
    assert order.index("+447911123999") <= in_hand, order  # next after the one in hand, not after the one claimed
    for message in batch["messages"]:
        api.wait_state(message["id"], "sent")


# --- quiet hours -----------------------------------------------------------------------------------

UK, NY, RU = "+447812345678", "+12025550143", "+79161234567"
NIGHT = at(11, 26, 22, 0)  # 22:00 in London, 17:00 in New York


def test_quiet_hold_is_the_end_of_the_local_window():
    window = parse_quiet_window("21:00-08:00")
    assert quiet_hold(NIGHT, zones_of(UK), window) == at(11, 27, 8, 0)
    assert quiet_hold(at(11, 26, 12, 0), zones_of(UK), window) is None
    assert quiet_hold(NIGHT, zones_of(NY), window) is None
    assert quiet_hold(at(11, 26, 3, 0), zones_of(UK), parse_quiet_window("01:00-02:00")) is None
    assert quiet_hold(at(11, 26, 1, 30), zones_of(UK), parse_quiet_window("01:00-02:00")) == at(11, 26, 2)


def test_a_number_of_many_zones_waits_until_every_zone_allows_it():
    window = parse_quiet_window("21:00-08:00")
    hold = quiet_hold(NIGHT, zones_of(RU), window)
    assert hold is not None and hold > NIGHT
    assert quiet_hold(hold, zones_of(RU), window) is None


@pytest.mark.parametrize("bad", ["21-08", "25:00-08:00", "08:00-08:00", ""])
def test_a_bad_quiet_window_is_refused(bad):
    with pytest.raises(ValidationError):
        parse_quiet_window(bad)


def test_marketing_is_held_through_quiet_hours_over_http_and_transactional_is_not(store, settings):
    from gateway.config import MessagingSettings
    from gateway.core.service import GatewayService
    from gateway.rules.apikeys import SCOPES
    from web import create_app

    service = GatewayService(store, MessagingSettings(quiet_hours="21:00-08:00"), clock=lambda: NIGHT)
    client = create_app(settings, service).test_client()
    auth = {"Authorization": f"Bearer {service.keys.create_key('t', list(SCOPES))[1]}"}

    def send(**extra):
        response = client.post("/api/v1/messages", json={"to": [UK, NY], "body": "Sale!", **extra}, headers=auth)
        assert response.status_code == 202, response.json
        return {m["to"]: m for m in response.json["messages"]}

    held = send(**{"class": "marketing"}, validity="PT1H")
    assert held[UK]["state"] == "scheduled" and held[UK]["send_at"] == f"{YEAR}-11-27T08:00:00Z"
    assert held[UK]["expires_at"] == f"{YEAR}-11-27T09:00:00Z"  # validity counts from when it may go
    assert held[NY]["state"] == "queued"  # 17:00 in New York
    assert {m["state"] for m in send().values()} == {"queued"}  # transactional by default
    assert {m["state"] for m in send(**{"class": "marketing", "quiet_hours": False}).values()} == {"queued"}
    assert {m["state"] for m in send(**{"class": "marketing", "quiet_hours": "23:00-07:00"}).values()} == {"queued"}
    bad = client.post("/api/v1/messages", json={"to": UK, "body": "x", "class": "spam"}, headers=auth)
    assert (bad.status_code, bad.json["error"]["field"]) == (400, "class")


def test_an_admin_changes_the_quiet_hours_while_the_box_runs_and_can_go_back_to_the_configs(store, settings):
    from gateway.config import MessagingSettings
    from gateway.core.service import GatewayService
    from web import create_app

    service = GatewayService(store, MessagingSettings(quiet_hours="21:00-08:00"), clock=lambda: NIGHT)
    client = create_app(settings, service).test_client()
    admin = {"Authorization": f"Bearer {service.keys.create_key('boss', ['admin', 'send', 'read'])[1]}"}
    reader = {"Authorization": f"Bearer {service.keys.create_key('look', ['read'])[1]}"}

    def marketing_state() -> str:
        response = client.post("/api/v1/messages", json={"to": UK, "body": "Sale!", "class": "marketing"},
                               headers=admin)
        return response.json["state"]

    def set_window(window):
        return client.put("/api/v1/settings/quiet-hours", json={"window": window}, headers=admin)

    assert client.get("/api/v1/settings/quiet-hours", headers=reader).json == {"window": "21:00-08:00",
                                                                              "changed": False}
    assert marketing_state() == "scheduled"
    assert set_window("").json == {"window": "", "changed": True}  # never held
    assert marketing_state() == "queued"
    assert set_window(" 23:30-06:00 ").json == {"window": "23:30-06:00", "changed": True}
    assert marketing_state() == "queued"  # 22:00 in London
    refused = set_window("late")
    assert (refused.status_code, refused.json["error"]["field"]) == (400, "quiet_hours")
    assert client.put("/api/v1/settings/quiet-hours", json={"window": ""}, headers=reader).status_code == 403
    assert set_window(None).json == {"window": "21:00-08:00", "changed": False}
    assert marketing_state() == "scheduled"
    assert [(e.actor, e.target) for e in store.audit.list_audit() if e.action == "settings.quiet_hours"] == [
        ("boss", "21:00-08:00"), ("boss", "23:30-06:00"), ("boss", "")]


def test_a_marketing_message_that_waited_into_quiet_hours_goes_back_to_scheduled_when_claimed(modem_links, settings):
    from gateway.appliance.runtime import Gateway
    from gateway.config import ModemSettings
    from gateway.rules.apikeys import SCOPES
    from tests.api_client import Api

    clock = Clock(at(11, 26, 20, 59))  # 20:59 in London: marketing may go
    [fake] = modem_links(1)
    one_a_minute = settings.replace(modems=(ModemSettings(name="modem1", port=fake.link, max_per_minute=1),),
                                    messaging=dataclasses.replace(settings.messaging, quiet_hours="21:00-08:00"))
    with Gateway(one_a_minute, clock=clock).start() as gateway:
        api = Api(gateway, gateway.service.keys.create_key("t", list(SCOPES))[1])
        wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")
        api.wait_state(api.send(UK, "your order shipped")["id"], "sent")  # the modem's minute is used up
        sale = api.send(UK, "Sale!", **{"class": "marketing"})
        assert sale["state"] == "queued"  # allowed hours: it waits only for the modem
        clock.now = at(11, 26, 21, 30)  # the modem may send again, but it is quiet hours in London
        gateway.pool.wake()
        held = api.wait_state(sale["id"], "scheduled")
        assert held["send_at"] == f"{YEAR}-11-27T08:00:00Z" and len(fake.sent) == 1
        assert "quiet hours" in held["history"][-1]["detail"]
        clock.now = at(11, 27, 8, 0, 1)
        gateway.pool.wake()
        sent = api.wait_state(sale["id"], "sent")
    assert [h["state"] for h in sent["history"] if h["part"] is None] == [
        "queued", "scheduled", "queued", "sending", "sent"]
    assert [s.text for s in fake.sent] == ["your order shipped", "Sale!"]
