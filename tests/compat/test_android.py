"""The SMS Gateway for Android door, driven by its official `android-sms-gateway` client."""

import hashlib
import hmac
import json

import pytest
from android_sms_gateway import client as android_client
from android_sms_gateway import domain
from android_sms_gateway.enums import WebhookEvent
from android_sms_gateway.webhooks import SmsReceivedPayload

from tests.conftest import wait_until


@pytest.fixture
def box(compat_gateway):
    gateway, fakes, _ = compat_gateway(1, report_delay_ms=100)
    _, token = gateway.service.keys.create_key("phone-app", ["send", "read", "admin"])
    api = android_client.APIClient("phone-app", token, base_url=f"http://127.0.0.1:{gateway.port}")
    with api:
        yield gateway, fakes, api, token


def test_send_and_follow_states_to_delivered(box):
    gateway, fakes, api, _ = box
    state = api.send(domain.Message(phone_numbers=["+447911123456", "+306912345678"],
                                    text_message=domain.TextMessage(text="Hi from the Android client")))
    assert state.state.value == "Pending" and len(state.recipients) == 2
    wait_until(lambda: len(fakes[0].sent) == 2)
    assert sorted((s.number, s.text) for s in fakes[0].sent) == [("+306912345678", "Hi from the Android client"),
                                                                  ("+447911123456", "Hi from the Android client")]
    done = wait_until(lambda: (s := api.get_state(state.id)).state.value == "Delivered" and s)
    assert {r.state.value for r in done.recipients} == {"Delivered"}
    assert {"Pending", "Sent", "Delivered"} <= set(done.states)


def test_bad_requests_are_refused_and_change_nothing(box):
    gateway, _, api, _ = box
    from android_sms_gateway.errors import APIError
    with pytest.raises(APIError):
        api.send(domain.Message(phone_numbers=["not a number"], text_message=domain.TextMessage(text="x")))
    stranger = android_client.APIClient("phone-app", "smsgw_wrong", base_url=api.base_url)
    with stranger, pytest.raises(APIError):
        stranger.send(domain.Message(phone_numbers=["+447911123456"], text_message=domain.TextMessage(text="x")))
    assert gateway.service.messages.list_messages()[0] == []


def test_webhooks_carry_the_apps_events_signed_with_x_signature(box, raw_receiver):
    gateway, fakes, api, _ = box
    created = api.create_webhook(domain.Webhook(id=None, url=raw_receiver.base + "/sms", event=WebhookEvent.SMS_RECEIVED))
    assert [w.event for w in api.get_webhooks()] == [WebhookEvent.SMS_RECEIVED]
    signing_key = api.http.post(api.base_url + "/webhooks", payload={"url": raw_receiver.base + "/sent",
                                                                     "event": "sms:sent"},
                                headers=api.headers)["signingKey"]
    fakes[0].inject_sms("+447911123456", "incoming for the app")
    [call] = raw_receiver.wait_for(1)
    event = json.loads(call["body"])
    assert (event["event"], call["path"]) == ("sms:received", "/sms")
    received = SmsReceivedPayload.from_dict(event["payload"])
    assert (received.sender, received.message) == ("+447911123456", "incoming for the app")
    assert received.recipient == "+447911000001"  # the fake SIM's number (+CNUM), kept with the SMS
    secret = gateway.service.receivers.get_webhook(created.id).secret  # the signingKey returned when it was created
    expected = hmac.new(secret.encode(), call["body"] + call["headers"]["X-Timestamp"].encode(),
                        hashlib.sha256).hexdigest()
    assert call["headers"]["X-Signature"] == expected
    api.send(domain.Message(phone_numbers=["+447911123456"], text_message=domain.TextMessage(text="out")))
    sent_call = raw_receiver.wait_for(2)[1]
    assert json.loads(sent_call["body"])["event"] == "sms:sent"
    assert sent_call["headers"]["X-Signature"] == hmac.new(
        signing_key.encode(), sent_call["body"] + sent_call["headers"]["X-Timestamp"].encode(),
        hashlib.sha256).hexdigest()
    api.delete_webhook(created.id)
    assert [w.event for w in api.get_webhooks()] == [WebhookEvent.SMS_SENT]


def _stored(gateway, state_id: str):
    return [gateway.service.messages.get_message(uid) for uid in state_id.split("~")]


def test_ttl_valid_until_priority_and_sim_number_map_to_the_gateways_options(box):
    import datetime

    from android_sms_gateway.enums import MessagePriority

    gateway, fakes, api, _ = box
    text = domain.TextMessage(text="options")
    urgent = api.send(domain.Message(phone_numbers=["+447911123456"], text_message=text, ttl=600, sim_number=1,
                                     priority=MessagePriority.BYPASS_THRESHOLD, with_delivery_report=False))
    [message] = _stored(gateway, urgent.id)
    assert (message.priority, message.pinned_modem, message.delivery_report) == (0, "modem1", False)
    lifetime = message.expires_at - message.created_at
    assert abs(lifetime - datetime.timedelta(seconds=600)) < datetime.timedelta(seconds=1)
    until = gateway.service.clock() + datetime.timedelta(hours=2)
    later = api.send(domain.Message(phone_numbers=["+447911123457"], text_message=text, valid_until=until,
                                    priority=MessagePriority.MINIMUM))
    [message] = _stored(gateway, later.id)
    assert message.priority == 2 and message.delivery_report is True
    assert abs(message.expires_at - until) < datetime.timedelta(seconds=2)
    plain = api.send(domain.Message(phone_numbers=["+447911123458"], text_message=text))
    assert _stored(gateway, plain.id)[0].priority == 1


@pytest.mark.parametrize("fields, reason", [
    ({"sim_number": 2}, "simNumber 2"),
    ({"is_encrypted": True}, "encrypted"),
    ({"ttl": -5}, "ttl"),
    ({"valid_until": "yesterday"}, "validUntil"),
])
def test_options_it_cannot_honour_are_refused_and_change_nothing(box, fields, reason):
    import datetime

    from android_sms_gateway.errors import BadRequestError

    gateway, _, api, _ = box
    if fields.get("valid_until") == "yesterday":
        fields = {"valid_until": gateway.service.clock() - datetime.timedelta(days=1)}
    with pytest.raises(BadRequestError) as refused:
        api.send(domain.Message(phone_numbers=["+447911123456"], text_message=domain.TextMessage(text="x"),
                                **fields))
    assert reason in refused.value.response["message"]
    assert gateway.service.messages.list_messages()[0] == []
