"""Webhooks and status callbacks end to end: a real receiver on loopback, the real gateway over fake modems."""

import time

import pytest

from gateway.appliance.runtime import Gateway
from gateway.config import WebhookSettings
from gateway.core.webhooks import SIGNATURE_HEADER, outcome_of, sign, verify_signature
from tests.api_client import Api
from tests.conftest import wait_until
from tests.receiver import LOOPBACK, Receiver


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.release.set()
    r.down()


@pytest.fixture
def hook_settings(settings):
    return settings.replace(webhooks=WebhookSettings(retry_base_s=0.2, retry_max_s=0.5, timeout_s=2,
                                                     horizon_s=3600, allow=LOOPBACK))


@pytest.fixture
def start(gateway_factory, hook_settings):
    def start(count=1, **kwargs):
        gateway, fakes, token = gateway_factory(count, settings_override=hook_settings, **kwargs)
        api = Api(gateway, token)
        wait_until(lambda: len(api.modems()) == count and all(m["state"] == "online" for m in api.modems().values()))
        return api, fakes, gateway

    return start


def register(api, url, events):
    response = api.session.post(f"{api.base}/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return response.json()


def test_events_arrive_signed_and_in_order(start, receiver):
    api, fakes, _ = start()
    hook = register(api, receiver.url, ["message.sent", "message.delivered", "message.failed"])
    assert hook["secret"].startswith("whsec_")
    uid = api.send("+447911123456", "hello", delivery_report=True)["id"]
    assert receiver.wait_for(lambda r: len(r.events()) == 2)
    sent, delivered = receiver.received
    assert [sent["json"]["type"], delivered["json"]["type"]] == ["message.sent", "message.delivered"]
    assert sent["json"]["data"]["id"] == uid and sent["json"]["data"]["state"] == "sent"
    assert delivered["json"]["data"]["state"] == "delivered"
    assert delivered["json"]["data"]["parts"][0]["reference"] == fakes[0].sent[0].reference
    for r in receiver.received:
        assert verify_signature(hook["secret"], r["headers"][SIGNATURE_HEADER], r["body"], now=time.time())
        assert not verify_signature("whsec_wrong", r["headers"][SIGNATURE_HEADER], r["body"], now=time.time())
        assert r["headers"]["X-Smsgw-Event-Id"] == r["json"]["id"]
    assert [h["id"] for h in api.session.get(f"{api.base}/webhooks").json()["webhooks"]] == [hook["id"]]
    assert "secret" not in api.session.get(f"{api.base}/webhooks/{hook['id']}").json()


def test_status_callback_gets_the_messages_events_signed_with_the_callback_secret(start, receiver):
    api, _, _ = start()
    uid = api.send("+447911123456", "tell me", status_callback=receiver.url, delivery_report=True)["id"]
    assert receiver.wait_for(lambda r: len(r.events()) == 2)
    assert [e["type"] for e in receiver.events()] == ["message.sent", "message.delivered"]
    assert {e["data"]["id"] for e in receiver.events()} == {uid}
    secret = api.session.get(f"{api.base}/webhooks/callback-secret").json()["secret"]
    assert all(verify_signature(secret, r["headers"][SIGNATURE_HEADER], r["body"], now=time.time())
               for r in receiver.received)
    bad = api.session.post(f"{api.base}/messages", json={"to": "+447911123456", "body": "x",
                                                         "status_callback": "ftp://nope"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "status_callback")


def test_5xx_and_429_are_retried_4xx_is_final_and_attempts_are_visible(start, receiver):
    api, _, _ = start()
    hook = register(api, receiver.url, ["message.sent"])
    receiver.answers = [500, 503, 429]
    api.send("+447911123456", "retry me")
    assert receiver.wait_for(lambda r: len(r.events()) == 1)
    [delivery] = wait_until(lambda: [d for d in api.session.get(f"{api.base}/webhooks/{hook['id']}/deliveries")
                                     .json()["deliveries"] if d["state"] == "delivered"])
    assert [a["status"] for a in delivery["history"]] == [500, 503, 429, 200]
    receiver.answers = [410]
    api.send("+447911123457", "gone")
    failed = wait_until(lambda: [d for d in api.session.get(f"{api.base}/webhooks/{hook['id']}/deliveries")
                                 .json()["deliveries"] if d["state"] == "failed"])
    assert [a["status"] for a in failed[0]["history"]] == [410]
    resent = api.session.post(f"{api.base}/webhooks/{hook['id']}/deliveries/{failed[0]['id']}/redeliver")
    assert resent.status_code == 202
    assert receiver.wait_for(lambda r: len(r.events()) == 2)


def test_a_test_event_reaches_one_webhook_signed_whatever_events_it_takes(start, receiver):
    api, _, gateway = start()
    hook = register(api, receiver.url, ["alert.raised"])
    other = register(api, receiver.url + "?other", ["alert.raised"])
    tested = api.session.post(f"{api.base}/webhooks/{hook['id']}/test")
    assert tested.status_code == 202 and tested.json()["state"] == "pending"
    assert receiver.wait_for(lambda r: len(r.events()) == 1)
    [received] = receiver.received
    assert received["json"]["type"] == "webhook.test" and received["json"]["data"]["webhook_id"] == hook["id"]
    assert verify_signature(hook["secret"], received["headers"][SIGNATURE_HEADER], received["body"], now=time.time())
    delivered = wait_until(lambda: [d for d in api.session.get(f"{api.base}/webhooks/{hook['id']}/deliveries")
                                    .json()["deliveries"] if d["state"] == "delivered"])
    assert [d["id"] for d in delivered] == [tested.json()["id"]] and delivered[0]["event"]["type"] == "webhook.test"
    assert api.session.get(f"{api.base}/webhooks/{other['id']}/deliveries").json()["deliveries"] == []
    assert api.session.post(f"{api.base}/webhooks/wh_missing/test").status_code == 404
    assert ("e2e", "webhook.tested", hook["id"]) in [
        (e.actor, e.action, e.target) for e in gateway.store.audit.list_audit()]


def test_a_receiver_that_was_down_gets_every_event_in_order_per_message(start, receiver):
    api, fakes, _ = start(2)
    register(api, receiver.url, ["message.sent", "message.delivered"])
    receiver.down()
    uids = [api.send(f"+4479111234{i:02d}", f"while down {i}", delivery_report=True)["id"] for i in range(6)]
    for uid in uids:
        api.wait_state(uid, "delivered")
    receiver.up()
    assert receiver.wait_for(lambda r: len(r.events()) == 12, timeout_s=20)
    for uid in uids:
        assert [e["type"] for e in receiver.events() if e["data"]["id"] == uid] == ["message.sent",
                                                                                   "message.delivered"]
    assert len({e["id"] for e in receiver.events()}) == 12


def test_a_restart_loses_no_event(hook_settings, modem_links, receiver):
    from gateway.config import ModemSettings

    [fake] = modem_links(1)
    settings = hook_settings.replace(modems=(ModemSettings(name="modem1", port=fake.link),))
    receiver.down()
    first = Gateway(settings).start()
    token = first.service.keys.create_key("k", ["send", "read", "admin"])[1]
    api = Api(first, token)
    register(api, receiver.url, ["message.sent"])
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")
    uids = [api.send("+447911123456", f"before restart {i}")["id"] for i in range(3)]
    for uid in uids:
        api.wait_state(uid, "sent")
    first.stop()
    receiver.up()
    second = Gateway(settings).start()
    try:
        assert receiver.wait_for(lambda r: len(r.events()) == 3, timeout_s=20)
        assert sorted(e["data"]["id"] for e in receiver.events()) == sorted(uids)
    finally:
        second.stop()


def test_replies_join_their_conversation(start, receiver):
    api, fakes, _ = start()
    register(api, receiver.url, ["message.received"])
    uid = api.send("+447911123456", "Reply YES to confirm")["id"]
    api.wait_state(uid, "sent")
    fakes[0].inject_sms("+447911123456", "YES")
    fakes[0].inject_sms("+12025550143", "who is this?")
    assert receiver.wait_for(lambda r: len(r.events("message.received")) == 2)
    by_sender = {e["data"]["from"]: e["data"] for e in receiver.events("message.received")}
    assert by_sender["+447911123456"]["in_reply_to"] == uid
    assert by_sender["+447911123456"]["text"] == "YES" and by_sender["+447911123456"]["modem"] == "modem1"
    assert by_sender["+12025550143"]["in_reply_to"] is None
    talk = api.session.get(f"{api.base}/conversations/07911123456").json()["messages"]
    assert [(m["direction"], m.get("body") or m.get("text")) for m in talk] == [
        ("outbound", "Reply YES to confirm"), ("inbound", "YES")]


def test_bad_webhook_requests_are_refused(start):
    api, _, _ = start()
    for payload, field in [({"url": "nope", "events": ["message.sent"]}, "url"),
                           ({"url": "http://127.0.0.1/x", "events": ["message.exploded"]}, "events"),
                           ({"url": "http://127.0.0.1/x", "events": []}, "events"),
                           ({"url": "http://127.0.0.1/x"}, "events"),
                           ({"url": "http://127.0.0.1/x", "events": ["message.sent"], "x": 1}, "x")]:
        response = api.session.post(f"{api.base}/webhooks", json=payload)
        assert response.status_code in (400, 422) and response.json()["error"]["field"] == field
    assert api.session.get(f"{api.base}/webhooks/wh_nope").status_code == 404
    reader = api.session.post(f"{api.base}/webhooks", json={"url": "http://127.0.0.1/x", "events": ["message.sent"]},
                              headers={"Authorization": "Bearer smsgw_nope"})
    assert reader.status_code == 401


def test_signature_rules():
    body = b'{"id":"evt_1"}'
    header = sign("s3cret", 1_700_000_000, body)
    assert verify_signature("s3cret", header, body, now=1_700_000_100)
    assert not verify_signature("s3cret", header, body + b" ", now=1_700_000_100)
    assert not verify_signature("s3cret", header, body, now=1_700_001_000)  # too old
    assert not verify_signature("s3cret", "garbage", body, now=1_700_000_100)
    assert [outcome_of(s).value for s in (200, 204, 301, 400, 404, 408, 429, 500, 503, None)] == [
        "delivered", "delivered", "failed", "failed", "failed", "pending", "pending", "pending", "pending",
        "pending"]


def test_a_hanging_receiver_holds_only_its_own_message(start, receiver):
    api, _, _ = start()
    register(api, receiver.url, ["message.sent"])
    receiver.answers = ["hang"]
    first = api.send("+447911123456", "first")["id"]
    wait_until(lambda: receiver.answers == [])  # the first POST is hanging now
    second = api.send("+447911123457", "second")["id"]
    assert receiver.wait_for(lambda r: [e["data"]["id"] for e in r.events()] == [second])
    receiver.release.set()  # the hung request ends; the gateway timed out on it and tries again
    assert receiver.wait_for(lambda r: first in [e["data"]["id"] for e in r.events()], timeout_s=20)


def test_a_failure_report_from_the_network_fires_message_failed(start, receiver):
    api, _, _ = start(report_status=0x46, report_delay_ms=200)
    register(api, receiver.url, ["message.failed"])
    uid = api.send("+447911123456", "to a phone that is off", delivery_report=True)["id"]
    assert receiver.wait_for(lambda r: len(r.events("message.failed")) == 1)
    [event] = receiver.events("message.failed")
    assert event["data"]["id"] == uid and event["data"]["error"]["code"] == "tp_st_70"
    assert api.message(uid)["parts"][0]["report_status"] == 0x46
