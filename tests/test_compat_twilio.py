"""The Twilio-compatible Messages API, driven by the official `twilio` SDK pointed at a running gateway."""

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.conftest import wait_until
from web.compat.twilio import sid_of_token


@pytest.fixture
def box(compat_gateway, monkeypatch):
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    gateway, fakes, _ = compat_gateway(1, report_delay_ms=100)
    _, token = gateway.service.create_key("twilio-app", ["send", "read"])
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
    assert gateway.service.list_messages()[0] == []


def test_cancel_a_queued_message_and_refuse_a_sent_one(box):
    gateway, fakes, client, _, _ = box
    fakes[0].stop()  # nothing leaves: the message stays queued
    wait_until(lambda: gateway.service.list_modems()[0].state.value != "online")
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
