"""The Twilio-compatible Messages API, driven by the official `twilio` SDK pointed at a running gateway."""

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.conftest import wait_until
from web.compat.twilio.accounts import sid_of_token


@pytest.fixture
def box(compat_gateway, monkeypatch):
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    gateway, fakes, _ = compat_gateway(1, report_delay_ms=100)
    _, token = gateway.service.keys.create_key("twilio-app", ["send", "read"])
    sid = sid_of_token(token)
    client = Client(sid, token)
    client.api.base_url = f"http://127.0.0.1:{gateway.port}"
    return gateway, fakes, client, sid, token


def test_create_and_fetch_go_on_the_air_with_twilio_shapes(box):
    gateway, fakes, client, sid, _ = box
    message = client.messages.create(to="+447911123456", from_="+15005550006", body="Hello from the SDK")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.account_sid, message.status, message.direction) == (sid, "queued", "outbound-api")
    assert message.date_created is not None and message.num_segments == "1"
    wait_until(lambda: fakes[0].sent)
    assert [(s.number, s.text) for s in fakes[0].sent] == [("+447911123456", "Hello from the SDK")]
    fetched = wait_until(lambda: (m := client.messages(message.sid).fetch()).status in ("sent", "delivered") and m)
    assert fetched.to == "+447911123456" and fetched.body == "Hello from the SDK" and fetched.date_sent


def test_list_follows_pages(box):
    gateway, _, client, _, _ = box
    sids = [client.messages.create(to=f"+4479111234{i:02d}", body=f"n{i}").sid for i in range(5)]
    listed = client.messages.list(page_size=2)
    assert [m.sid for m in listed] == sids[::-1]
    page = client.messages.page(page_size=2)
    assert len(list(page)) == 2 and page.next_page_url
    only = client.messages.list(to="+447911123403")
    assert [m.sid for m in only] == [sids[3]]


def test_errors_become_twilio_rest_exceptions_and_change_nothing(box):
    gateway, _, client, sid, token = box
    with pytest.raises(TwilioRestException) as bad_number:
        client.messages.create(to="not a number", body="x")
    assert (bad_number.value.status, bad_number.value.code) == (400, 21211)
    with pytest.raises(TwilioRestException) as no_body:
        client.messages.create(to="+447911123456", body="   ")
    assert no_body.value.code == 21602
    with pytest.raises(TwilioRestException) as missing:
        client.messages("SM" + "0" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)
    stranger = Client(sid, "smsgw_wrong")
    stranger.api.base_url = client.api.base_url
    with pytest.raises(TwilioRestException) as unauthorised:
        stranger.messages.create(to="+447911123456", body="x")
    assert (unauthorised.value.status, unauthorised.value.code) == (401, 20003)
    other_account = Client("AC" + "1" * 32, token)
    other_account.api.base_url = client.api.base_url
    with pytest.raises(TwilioException, match="401"):  # a list page that is not 200 fails the SDK
        other_account.messages.list()
    assert gateway.service.messages.list_messages()[0] == []


def test_cancel_a_queued_message_and_refuse_a_sent_one(box):
    gateway, fakes, client, _, _ = box
    fakes[0].stop()  # nothing leaves: the message stays queued
    wait_until(lambda: gateway.service.modems.list_modems()[0].state.value != "online")
    queued = client.messages.create(to="+447911123456", body="never mind")
    assert client.messages(queued.sid).update(status="canceled").status == "canceled"
    with pytest.raises(TwilioRestException) as again:
        client.messages(queued.sid).update(status="canceled")
    assert again.value.status == 400


def test_status_callbacks_are_twilio_forms_signed_for_the_request_validator(box, raw_receiver):
    gateway, _, client, sid, token = box
    url = raw_receiver.base + "/status?app=1"
    message = client.messages.create(to="+447911123456", body="call me back", status_callback=url)
    account = requests.get(f"{client.api.base_url}/2010-04-01/Accounts/{sid}.json", auth=(sid, token), timeout=10)
    auth_token = account.json()["auth_token"]
    calls = raw_receiver.wait_for(2)
    validator = RequestValidator(auth_token)
    statuses = []
    for call in calls:
        from urllib.parse import parse_qsl
        params = dict(parse_qsl(call["body"].decode()))
        assert validator.validate(url, params, call["headers"]["X-Twilio-Signature"])
        assert (params["MessageSid"], params["AccountSid"], params["To"]) == (message.sid, sid, "+447911123456")
        statuses.append(params["MessageStatus"])
    assert statuses == ["sent", "delivered"]
    auth_client = Client(sid, auth_token)  # the account's auth token works as the password too
    auth_client.api.base_url = client.api.base_url
    assert auth_client.messages(message.sid).fetch().sid == message.sid


def _rows(gateway, table: str, message_uid: str) -> int:
    from sqlalchemy import text
    with gateway.store.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table} WHERE message_id IN "
                                 "(SELECT id FROM messages WHERE uid = :uid)"), {"uid": message_uid}).scalar_one()


def test_redact_empties_a_delivered_message_and_refuses_one_in_flight(box):
    gateway, fakes, client, _, _ = box
    done = client.messages.create(to="+447911123456", body="Your code is 123456")
    wait_until(lambda: client.messages(done.sid).fetch().status == "sent")
    redacted = client.messages(done.sid).update(body="")
    assert (redacted.sid, redacted.body, redacted.status) == (done.sid, "", "sent")
    uid = "msg_" + done.sid[14:]
    stored = gateway.service.messages.get_message(uid)
    assert stored.body == "" and stored.body_purged and [p.text for p in stored.parts] == [""]
    fakes[0].stop()
    wait_until(lambda: gateway.service.modems.list_modems()[0].state.value != "online")
    queued = client.messages.create(to="+447911123457", body="still going")
    with pytest.raises(TwilioRestException) as in_flight:
        client.messages(queued.sid).update(body="")
    assert (in_flight.value.status, in_flight.value.code) == (400, 20009)
    with pytest.raises(TwilioRestException) as not_empty:
        client.messages(queued.sid).update(body="another text")
    assert not_empty.value.code == 30400
    kept = gateway.service.messages.get_message("msg_" + queued.sid[14:])
    assert (kept.body, kept.body_purged, kept.state.value) == ("still going", False, "queued")
    assert [p.text for p in kept.parts] == ["still going"]


def test_delete_removes_a_settled_message_with_its_parts_and_history_only(box, raw_receiver):
    gateway, fakes, client, _, _ = box
    done = client.messages.create(to="+447911123456", body="delete me later", status_callback=raw_receiver.base)
    wait_until(lambda: client.messages(done.sid).fetch().status == "delivered")
    uid = "msg_" + done.sid[14:]
    assert _rows(gateway, "parts", uid) == 1 and _rows(gateway, "message_events", uid) >= 3
    fakes[0].inject_sms("+447911123456", "a reply to it")  # the reply's in_reply_to points at it
    wait_until(lambda: gateway.service.messages.list_inbox()[0])
    assert gateway.service.messages.list_inbox()[0][0].in_reply_to.uid == uid
    assert client.messages(done.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        client.messages(done.sid).fetch()
    assert gone.value.status == 404
    from sqlalchemy import text
    with gateway.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parts")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM message_events")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM status_reports WHERE part_id IS NULL")).scalar_one() >= 1
    [reply] = gateway.service.messages.list_inbox()[0]
    assert reply.in_reply_to is None and reply.text == "a reply to it"
    with pytest.raises(TwilioRestException) as twice:
        client.messages(done.sid).delete()
    assert twice.value.status == 404
    fakes[0].stop()
    wait_until(lambda: gateway.service.modems.list_modems()[0].state.value != "online")
    queued = client.messages.create(to="+447911123457", body="not yet")
    with pytest.raises(TwilioRestException) as in_flight:
        client.messages(queued.sid).delete()
    assert (in_flight.value.status, in_flight.value.code) == (400, 20009)
    kept = gateway.service.messages.get_message("msg_" + queued.sid[14:])
    assert kept.state.value == "queued" and len(kept.parts) == 1 and kept.events


@pytest.fixture
def inbound_box(compat_gateway, service, raw_receiver, monkeypatch):
    """A gateway whose config sends received SMS to a Twilio-style receiver, for an account made beforehand."""
    from web.compat.twilio.settings import TwilioSettings

    _, token = service.keys.create_key("twilio-inbound", ["send", "read"])
    sid = sid_of_token(token)
    url = raw_receiver.base + "/sms?app=1"
    gateway, fakes, _ = compat_gateway(1, config={"twilio": TwilioSettings(sms_url=url, account_sid=sid)})
    return gateway, fakes, sid, token, url


def test_received_sms_reach_a_twilio_receiver_signed_and_its_twiml_reply_is_sent(inbound_box, raw_receiver):
    gateway, fakes, sid, token, url = inbound_box
    raw_receiver.answers.append((200, "text/xml", b"<?xml version='1.0'?><Response><Message>Thanks, "
                                                  b"got it</Message></Response>"))
    fakes[0].inject_sms("+447911123456", "hello box")
    [call] = raw_receiver.wait_for(1)
    from urllib.parse import parse_qsl
    params = dict(parse_qsl(call["body"].decode()))
    [inbound] = gateway.service.messages.list_inbox()[0]
    twilio_sid = "SM" + inbound.uid.partition("_")[2].rjust(32, "0")
    assert call["method"] == "POST" and call["path"] == "/sms?app=1"
    assert params == {"MessageSid": twilio_sid, "SmsSid": twilio_sid, "SmsMessageSid": twilio_sid,
                      "AccountSid": sid, "From": "+447911123456", "To": "+447911000001", "Body": "hello box",
                      "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01"}
    account = requests.get(f"http://127.0.0.1:{gateway.port}/2010-04-01/Accounts/{sid}.json", auth=(sid, token),
                           timeout=10).json()
    assert RequestValidator(account["auth_token"]).validate(url, params, call["headers"]["X-Twilio-Signature"])
    assert not RequestValidator("0" * 32).validate(url, params, call["headers"]["X-Twilio-Signature"])
    wait_until(lambda: fakes[0].sent)
    assert [(s.number, s.text) for s in fakes[0].sent] == [("+447911123456", "Thanks, got it")]
    reply = gateway.service.messages.get_message(gateway.service.messages.list_messages()[0][0].uid)
    assert reply.modem == "modem1" and reply.events[0].detail == f"reply to {inbound.uid}"


def test_to_is_the_modems_name_when_its_sim_does_not_know_its_number(compat_gateway, service, raw_receiver):
    from web.compat.twilio.settings import TwilioSettings

    sid = sid_of_token(service.keys.create_key("twilio-inbound", ["send", "read"])[1])
    _, fakes, _ = compat_gateway(1, config={"twilio": TwilioSettings(sms_url=raw_receiver.base + "/sms",
                                                                     account_sid=sid)}, own_number="")
    fakes[0].inject_sms("+447911123456", "to whom?")
    [call] = raw_receiver.wait_for(1)
    from urllib.parse import parse_qsl
    assert dict(parse_qsl(call["body"].decode()))["To"] == "modem1"


def test_an_empty_answer_sends_no_reply_and_the_config_owns_the_receiver(inbound_box, raw_receiver):
    gateway, fakes, sid, _, url = inbound_box
    [webhook] = gateway.service.receivers.list_webhooks()
    assert webhook.url == f"twilio-{sid}+{url}" and webhook.events == "message.received"
    doors = gateway.doors
    # a restart: the same
    gateway.service.receivers.sync_config_receivers(doors.receivers(gateway.settings), doors.receiver_doors)
    assert [w.uid for w in gateway.service.receivers.list_webhooks()] == [webhook.uid]
    fakes[0].inject_sms("+447911123456", "no answer for this")
    raw_receiver.wait_for(1)
    wait_until(lambda: gateway.service.receivers.list_deliveries(webhook.uid)[0][0].state.value == "delivered")
    assert gateway.service.messages.list_messages()[0] == []
    gateway.service.receivers.sync_config_receivers([], doors.receiver_doors)  # the config no longer names it
    assert gateway.service.receivers.list_webhooks() == []


@pytest.mark.parametrize("answer, texts", [
    (b"<Response><Message>one</Message><Message><Body>two</Body></Message></Response>", ["one", "two"]),
    (b"<Response/>", []),
    (b"", []),
    (b"not xml", []),
    (b"<Other><Message>x</Message></Other>", []),
    (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY big "boom">]><Response><Message>&big;</Message></Response>', []),
    (b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><Response><Message>&e;</Message></Response>', []),
])
def test_twiml_answers_are_read_safely(answer, texts):
    from web.compat.twilio.callbacks import replies

    assert replies("text/xml", answer) == texts


def test_the_twilio_section_needs_an_account_sid():
    from gateway.appliance.doors import gateway_doors
    from gateway.config import settings_from_mapping
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError, match="account_sid"):
        settings_from_mapping({"twilio": {"sms_url": "http://crm.lan/sms", "account_sid": "not-a-sid"}},
                              doors=gateway_doors())
    assert settings_from_mapping({"twilio": {"sms_url": "http://crm.lan/sms", "account_sid": "AC" + "a" * 32}},
                                 doors=gateway_doors()).doors["twilio"].sms_url == "http://crm.lan/sms"
