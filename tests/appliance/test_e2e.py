"""Whole gateway, end to end: real HTTP (waitress on a free port) → service → SQLite → pool → the real
driver over a real pseudo-terminal → fake_modem. Assertions are on what the fake modem decoded."""

import dataclasses
import time

import pytest

from fake_modem import reassemble
from gateway.values import MessageState
from tests.api_client import Api
from tests.conftest import wait_until

pytestmark = pytest.mark.both_databases  # every test here runs on SQLite and on PostgreSQL


@pytest.fixture
def start(gateway_factory):
    def start(count=2, **kwargs):
        gateway, fakes, token = gateway_factory(count, **kwargs)
        api = Api(gateway, token)
        wait_until(lambda: all(m["state"] == "online" for m in api.modems().values()) and len(api.modems()) == count)
        return api, fakes, gateway

    return start


def test_one_message_goes_queued_sending_sent_with_its_reference(start):
    api, fakes, _ = start(1)
    created = api.send("+447911123456", "Your code is 123456")
    assert created["state"] == "queued"
    sent = api.wait_state(created["id"], "sent")
    [on_air] = fakes[0].sent
    assert (on_air.number, on_air.text) == ("+447911123456", "Your code is 123456")
    assert sent["modem"] == "modem1" and sent["part_count"] == 1
    assert sent["parts"][0]["reference"] == on_air.reference
    assert [h["state"] for h in sent["history"] if h["part"] is None] == ["queued", "sending", "sent"]


def test_unicode_multipart_to_several_recipients_arrives_exactly(start):
    api, fakes, _ = start(2)
    text = "Καλημέρα! Your parcel 📦 is on its way — track it with code ΑΒΓ-123. " * 3
    created = api.send(["+447911123456", "+306912345678"], text)
    assert [m["encoding"] for m in created["messages"]] == ["ucs2", "ucs2"]
    parts = created["messages"][0]["part_count"]
    assert parts > 1
    for message in created["messages"]:
        done = api.wait_state(message["id"], "sent")
        assert [p["state"] for p in done["parts"]] == ["sent"] * parts
        assert all(p["reference"] is not None for p in done["parts"])
    on_air = sorted(reassemble([s for f in fakes for s in f.sent]))
    assert on_air == [("+306912345678", text), ("+447911123456", text)]


def test_queued_work_spreads_across_modems(start):
    api, fakes, _ = start(3, latency_ms=100)
    ids = [api.send(f"+4479111234{i:02d}", f"message {i}")["id"] for i in range(12)]
    for uid in ids:
        api.wait_state(uid, "sent")
    assert all(len(f.sent) >= 2 for f in fakes), [len(f.sent) for f in fakes]
    assert sorted(s.text for f in fakes for s in f.sent) == sorted(f"message {i}" for i in range(12))


def test_a_busy_modem_claims_its_next_message_while_it_sends_and_a_stop_gives_that_claim_back(start, store, settings):
    """While the modem sends one message, its worker records the one before and claims the next, off the time
    between two sends. A stop lets the message in hand finish and gives the claimed one back, attempt not counted."""
    unhurried = settings.replace(pool=dataclasses.replace(settings.pool, sweep_interval_s=60, health_interval_s=60))
    api, fakes, gateway = start(1, latency_ms=300, settings_override=unhurried)  # one run: nothing else falls due
    ids = [api.send(f"+4479111234{i:02d}", f"message {i}")["id"] for i in range(5)]
    wait_until(lambda: [m for m in map(api.message, ids)  # claimed ahead: sending, nothing of it written yet
                        if m["state"] == "sending" and [p["state"] for p in m["parts"]] == ["pending"]])
    gateway.pool.stop()
    messages = [store.outbox.get_message(uid) for uid in ids]
    [given_back] = [m for m in messages if m.events[-1].detail == "claim given back: the modem stopped before "
                                                                  "sending it"]
    assert given_back.state == MessageState.QUEUED and given_back.attempts == 0
    sent = [m for m in messages if m.state == MessageState.SENT]
    assert {m.state for m in messages} == {MessageState.SENT, MessageState.QUEUED} and sent == messages[:len(sent)]
    assert [s.text for s in fakes[0].sent] == [f"message {i}" for i in range(len(sent))]


def test_inbound_sms_and_out_of_order_parts_reach_the_inbox_then_leave_the_sim(start):
    api, fakes, _ = start(1)
    fakes[0].inject_sms("+447911123456", "STOP")
    long_text = "Please call me back about the appointment on Tuesday, I cannot make it at ten. " * 4
    fakes[0].inject_sms("+12025550143", long_text, parts_order=[2, 0, 1])
    inbox = wait_until(lambda: len(api.inbox()) == 2 and api.inbox())
    by_sender = {m["from"]: m for m in inbox}
    assert by_sender["+447911123456"]["text"] == "STOP"
    assert by_sender["+12025550143"]["text"] == long_text
    assert by_sender["+12025550143"]["part_count"] == 3
    assert {m["modem"] for m in inbox} == {"modem1"}
    wait_until(lambda: not fakes[0].stored())
    assert api.modems()["modem1"]["counters"]["received"] == 2


def test_a_message_stored_without_notice_is_found_by_the_sweep(start):
    api, fakes, _ = start(1)
    fakes[0].inject_sms_silently("+447911123456", "found by the sweep")
    wait_until(lambda: [m["text"] for m in api.inbox()] == ["found by the sweep"])


def test_temporary_cms_error_retries_and_permanent_fails(start):
    api, fakes, _ = start(1)
    fakes[0].set_fail_next(1, "+CMS ERROR: 42")
    retried = api.wait_state(api.send("+447911123456", "congested")["id"], "sent")
    assert retried["attempts"] == 2
    assert any("cms_42" in (h["detail"] or "") for h in retried["history"])
    fakes[0].set_fail_next(1, "+CMS ERROR: 1")
    failed = api.wait_state(api.send("+447911123457", "no such number")["id"], "failed")
    assert failed["error"]["code"] == "cms_1" and failed["parts"][0]["state"] == "failed"


def test_a_refused_message_does_not_stop_the_run_of_those_claimed_behind_it(start):
    api, fakes, _ = start(1, latency_ms=200)
    fakes[0].set_fail_next(1, "+CMS ERROR: 1")
    refused, *others = api.send([f"+4479111234{i:02d}" for i in range(3)], "hello")["messages"]
    assert api.wait_state(refused["id"], "failed")["error"]["code"] == "cms_1"
    for message in others:  # claimed while the refused one was with the modem, then sent: never given back
        sent = api.wait_state(message["id"], "sent")
        assert [h["state"] for h in sent["history"] if h["part"] is None] == ["queued", "sending", "sent"]


def test_garbage_on_the_line_does_not_stop_the_modem(start):
    api, fakes, _ = start(1)
    fakes[0].emit(b"\r\n\xff\xfe\x80 line noise \x00\xc3\r\n")
    api.wait_state(api.send("+447911123456", "after the noise")["id"], "sent")
    assert fakes[0].sent[-1].text == "after the noise"


def test_a_vanished_modem_goes_offline_its_work_moves_and_it_comes_back(start):
    api, fakes, _ = start(2)
    fakes[0].unplug()
    wait_until(lambda: api.modems().get("modem1", {}).get("state") in ("offline", "connecting"))
    ids = [api.send(f"+4479111234{i:02d}", f"while unplugged {i}")["id"] for i in range(4)]
    for uid in ids:
        assert api.wait_state(uid, "sent")["modem"] == "modem2"
    fakes[0].replug()
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online", timeout_s=20)
    fakes[1].unplug()
    assert api.wait_state(api.send("+447911123456", "back again")["id"], "sent", timeout_s=20)["modem"] == "modem1"


def test_a_modem_that_stops_answering_hands_its_message_to_another(start):
    api, fakes, _ = start(2)
    fakes[0].hang(True)
    fakes[1].hang(True)
    uid = api.send("+447911123456", "who takes me?")["id"]
    wait_until(lambda: any(c.startswith("AT+CMGS") for f in fakes for c in f.commands))
    hung = next(f for f in fakes if any(c.startswith("AT+CMGS") for c in f.commands))
    other = fakes[1] if hung is fakes[0] else fakes[0]
    other.hang(False)  # the modem that got the message stays silent: no prompt, nothing went out
    sent = api.wait_state(uid, "sent", timeout_s=20)
    assert sent["modem"] == ("modem2" if hung is fakes[0] else "modem1")
    assert [s.text for s in other.sent] == ["who takes me?"] and hung.sent == []
    hung_name = "modem1" if hung is fakes[0] else "modem2"
    wait_until(lambda: api.modems()[hung_name]["state"] in ("offline", "connecting"), timeout_s=20)
    hung.hang(False)
    wait_until(lambda: api.modems()[hung_name]["state"] == "online", timeout_s=20)


def test_a_part_written_but_never_answered_is_unknown_and_not_sent_again(start, settings, gateway_factory):
    from gateway.config import PoolSettings

    slow = settings.replace(pool=PoolSettings(send_timeout_s=0.5, command_timeout_s=2, reconnect_min_s=0.2,
                                              reconnect_max_s=1.0, sweep_interval_s=1.0))
    gateway, fakes, token = gateway_factory(1, settings_override=slow, latency_ms=1500)
    api = Api(gateway, token)
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")
    unknown = api.wait_state(api.send("+447911123456", "in flight")["id"], "unknown", timeout_s=20)
    assert unknown["parts"][0]["state"] == "unknown"
    assert unknown["error"]["code"] == "outcome_unknown"
    fakes[0].wait_for(lambda f: len(f.sent) == 1, 5)  # the network did take it, late
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online", timeout_s=20)
    api.wait_state(api.send("+447911123457", "next one")["id"], "unknown", timeout_s=20)
    fakes[0].wait_for(lambda f: len(f.sent) == 2, 5)
    time.sleep(1.5)  # nothing is re-sent later either: give a resend the time it would need
    assert sorted(s.text for s in fakes[0].sent) == ["in flight", "next one"]


def test_sim_pin_from_config_unlocks_and_a_missing_one_is_reported(settings, modem_links):
    from gateway.appliance.runtime import Gateway
    from gateway.config import ModemSettings

    locked, unlocked = modem_links(2, pin="1234")
    gateway = Gateway(settings.replace(modems=(ModemSettings(name="no-pin", port=locked.link),
                                               ModemSettings(name="with-pin", port=unlocked.link, pin="1234"))))
    with gateway.start(serve_http=False):
        states = lambda: {m.name: m.state.value for m in gateway.service.modems.list_modems()}  # noqa: E731
        wait_until(lambda: states() == {"no-pin": "pin_needed", "with-pin": "online"}, timeout_s=20)
        [m] = [m for m in gateway.service.modems.list_modems() if m.name == "no-pin"]
        assert "PIN" in m.last_error


def test_a_modem_that_loses_the_network_stops_taking_work(settings, gateway_factory):
    from gateway.config import PoolSettings

    quick_health = settings.replace(pool=PoolSettings(send_timeout_s=5, command_timeout_s=2, health_interval_s=0.3,
                                                      reconnect_min_s=0.2, reconnect_max_s=1.0))
    gateway, fakes, token = gateway_factory(2, settings_override=quick_health)
    api = Api(gateway, token)
    wait_until(lambda: {m["state"] for m in api.modems().values()} == {"online"} and len(api.modems()) == 2)
    fakes[0].set_registration(0)
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "not_registered")
    ids = [api.send(f"+4479111234{i:02d}", f"m{i}")["id"] for i in range(3)]
    assert {api.wait_state(uid, "sent")["modem"] for uid in ids} == {"modem2"}
    fakes[0].set_registration(1)
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")
    assert api.modems()["modem1"]["registration"] == "home"


def test_delivery_report_moves_the_message_to_delivered(start):
    api, fakes, _ = start(1)
    text = "Your appointment is confirmed for Tuesday at 10:00. Reply STOP to opt out. " * 3
    created = api.send("+447911123456", text, delivery_report=True)
    delivered = api.wait_state(created["id"], "delivered")
    assert [p["state"] for p in delivered["parts"]] == ["delivered"] * created["part_count"]
    assert all(p["report_status"] == 0 for p in delivered["parts"])
    assert all(s.status_report_requested for s in fakes[0].sent)
    wait_until(lambda: not fakes[0].stored("SR"))  # reports are deleted once recorded


def test_via_names_the_modem_retry_resends_a_failed_message_and_reset_reconnects(start):
    api, fakes, gateway = start(2)
    for _ in range(3):
        assert api.wait_state(api.send("+447911123456", "through two", via="modem2")["id"], "sent")["modem"] == "modem2"
    response = api.session.post(f"{api.base}/messages", json={"to": "+447911123456", "body": "x", "via": "modem9"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "unknown_modem")

    fakes[0].set_fail_next(1, "+CMS ERROR: 1")
    failed = api.wait_state(api.send("+447911123457", "try again", via="modem1")["id"], "failed")
    retried = api.session.post(f"{api.base}/messages/{failed['id']}/retry")
    assert retried.status_code == 202 and retried.json()["state"] == "queued"
    history = api.wait_state(failed["id"], "sent")["history"]
    assert [h["state"] for h in history if h["part"] is None][-4:] == ["failed", "queued", "sending", "sent"]
    assert any(h["detail"] == "retried by request" for h in history)
    assert api.session.post(f"{api.base}/messages/{failed['id']}/retry").status_code == 409

    connects_before = fakes[0].commands.count("ATZ")
    assert api.session.post(f"{api.base}/modems/modem1/reset").status_code == 202
    fakes[0].wait_for(lambda f: f.commands.count("ATZ") > connects_before, 10)
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")
    assert api.session.post(f"{api.base}/modems/nope/reset").status_code == 404
