"""The SOAP door, driven by two independent real clients (zeep and suds-community), each reading the WSDL
from the running gateway."""

import pytest
import requests
import zeep
from suds import WebFault
from suds.client import Client as SudsClient
from suds.wsse import Security
from suds.wsse import UsernameToken as SudsUsernameToken
from zeep.wsse.username import UsernameToken

from tests.conftest import wait_until


@pytest.fixture
def box(compat_gateway):
    gateway, fakes, _ = compat_gateway(1)
    _, token = gateway.service.keys.create_key("soap-app", ["send", "read"])
    return gateway, fakes, token, f"http://127.0.0.1:{gateway.port}/soap?wsdl"


def suds_client(wsdl: str, user: str, password: str) -> SudsClient:
    security = Security()
    security.tokens.append(SudsUsernameToken(user, password))
    return SudsClient(wsdl, wsse=security, cache=None)


def test_the_wsdl_names_the_address_it_was_asked_at(box):
    gateway, _, _, wsdl = box
    text = requests.get(wsdl.replace("127.0.0.1", "localhost"), timeout=10).text
    assert f'location="http://localhost:{gateway.port}/soap"' in text


def test_zeep_sends_to_many_reads_status_cancels_and_lists_the_inbox(box):
    gateway, fakes, token, wsdl = box
    client = zeep.Client(wsdl, wsse=UsernameToken("soap-app", token))
    sent = client.service.SendSms(to=["+447911123456", "+306912345678"], body="Γειά από SOAP", deliveryReport=True)
    assert [m.to for m in sent] == ["+447911123456", "+306912345678"]
    assert {m.state for m in sent} == {"queued"} and sent[0].encoding == "ucs2"
    wait_until(lambda: len(fakes[0].sent) == 2)
    assert sorted((s.number, s.text) for s in fakes[0].sent) == [("+306912345678", "Γειά από SOAP"),
                                                                  ("+447911123456", "Γειά από SOAP")]
    status = wait_until(lambda: (m := client.service.GetMessageStatus(id=sent[0].id)).state != "queued" and m)
    assert status.id == sent[0].id and status.partCount == 1
    fakes[0].inject_sms("+447911123456", "reply via SOAP")
    inbox = wait_until(lambda: client.service.ListInbox(limit=10).message)
    assert [(m["from"], m.text) for m in inbox] == [("+447911123456", "reply via SOAP")]
    with pytest.raises(zeep.exceptions.Fault) as refused:
        client.service.CancelMessage(id=sent[0].id)  # already sent: our conflict code
    assert refused.value.detail.find(".//{urn:smsgw:soap:1}code").text == "conflict"


def test_zeep_faults_carry_our_codes_and_change_nothing(box):
    gateway, _, token, wsdl = box
    client = zeep.Client(wsdl, wsse=UsernameToken("soap-app", token))
    with pytest.raises(zeep.exceptions.Fault) as bad_number:
        client.service.SendSms(to=["not a number"], body="x")
    assert bad_number.value.code == "soap:Client"
    assert bad_number.value.detail.find(".//{urn:smsgw:soap:1}code").text == "invalid_number"
    with pytest.raises(zeep.exceptions.Fault) as missing:
        client.service.GetMessageStatus(id="msg_nope")
    assert missing.value.detail.find(".//{urn:smsgw:soap:1}code").text == "message_not_found"
    stranger = zeep.Client(wsdl, wsse=UsernameToken("soap-app", "smsgw_wrong"))
    with pytest.raises(zeep.exceptions.Fault) as unauthorised:
        stranger.service.SendSms(to=["+447911123456"], body="x")
    assert unauthorised.value.detail.find(".//{urn:smsgw:soap:1}code").text == "unauthorized"
    assert gateway.service.messages.list_messages()[0] == []


def test_zeep_with_http_basic(box):
    gateway, fakes, token, wsdl = box
    session = requests.Session()
    session.auth = ("soap-app", token)
    client = zeep.Client(wsdl, transport=zeep.Transport(session=session))
    [message] = client.service.SendSms(to=["+447911123456"], body="basic auth")
    assert message.state == "queued"
    wait_until(lambda: fakes[0].sent)


def test_suds_sends_and_reads_status(box):
    gateway, fakes, token, wsdl = box
    client = suds_client(wsdl, "soap-app", token)
    sent = client.service.SendSms(to=["+447911123456"], body="Hello from suds")
    assert sent[0].to == "+447911123456" and sent[0].state == "queued"
    wait_until(lambda: fakes[0].sent)
    assert (fakes[0].sent[0].number, fakes[0].sent[0].text) == ("+447911123456", "Hello from suds")
    status = client.service.GetMessageStatus(id=sent[0].id)
    assert status.id == sent[0].id


def test_suds_sees_faults(box):
    gateway, _, token, wsdl = box
    client = suds_client(wsdl, "soap-app", token)
    with pytest.raises(WebFault) as refused:
        client.service.SendSms(to=["+447911123456"], body="   ")
    assert refused.value.fault.detail.GatewayFault.code == "invalid_request"
    wrong_user = suds_client(wsdl, "someone", token)
    with pytest.raises(WebFault) as unauthorised:
        wrong_user.service.ListInbox()
    assert unauthorised.value.fault.detail.GatewayFault.code == "unauthorized"
    assert gateway.service.messages.list_messages()[0] == []


def test_malformed_envelopes_are_faults(box):
    gateway, _, _, wsdl = box
    url = wsdl.split("?")[0]
    for body in (b"<not xml", b"<x/>", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                 b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                 b'<t:ListInbox xmlns:t="urn:smsgw:soap:1"><t:cursor>&e;</t:cursor></t:ListInbox>'
                 b'</soap:Body></soap:Envelope>'):
        response = requests.post(url, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
        assert response.status_code == 500 and b"faultcode" in response.content
        assert b"root:" not in response.content


def test_send_sms_takes_the_options_of_api_v1(box):
    import datetime

    gateway, _, token, wsdl = box
    client = zeep.Client(wsdl, wsse=UsernameToken("soap-app", token))
    send_at = (gateway.service.clock() + datetime.timedelta(hours=1)).replace(microsecond=0)
    [later] = client.service.SendSms(to=["+447911123456"], body="later", priority="high", sendAt=send_at.isoformat(),
                                     validity="PT30M", messageClass="marketing", quietHours="false")
    assert (later.state, later.priority, later.sendAt) == ("scheduled", "high", send_at)
    assert later.expiresAt == send_at + datetime.timedelta(minutes=30)
    stored = gateway.service.messages.get_message(later.id)
    assert (stored.priority, stored.next_attempt_at, stored.expires_at) == (0, send_at, later.expiresAt)
    suds = suds_client(wsdl, "soap-app", token)
    [local] = suds.service.SendSms(to=["+447911123457"], body="local time", priority="bulk",
                                   sendAt="2031-06-01T09:00:00", timeZone="Europe/London", validity="600")
    stored = gateway.service.messages.get_message(local.id)
    assert stored.priority == 2 and stored.next_attempt_at == datetime.datetime(2031, 6, 1, 8, 0,
                                                                                tzinfo=datetime.timezone.utc)
    assert stored.expires_at - stored.next_attempt_at == datetime.timedelta(seconds=600)


@pytest.mark.parametrize("options", [
    {"sendAt": "tomorrow"}, {"priority": "urgent"}, {"validity": "forever"}, {"messageClass": "spam"},
    {"sendAt": "2031-06-01T09:00:00", "timeZone": "Mars/Base"},
])
def test_bad_send_options_are_faults_and_change_nothing(box, options):
    gateway, _, token, wsdl = box
    client = zeep.Client(wsdl, wsse=UsernameToken("soap-app", token))
    with pytest.raises(zeep.exceptions.Fault) as refused:
        client.service.SendSms(to=["+447911123456"], body="x", **options)
    assert refused.value.code == "soap:Client"
    assert refused.value.detail.find(".//{urn:smsgw:soap:1}code").text == "invalid_request"
    assert gateway.service.messages.list_messages()[0] == []
