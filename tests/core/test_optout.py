"""Opt-out: inbound keywords change consent in the inbox transaction, marketing to opted-out numbers is
refused, every change is kept with its source, and the confirmation goes back through the same modem."""

import csv
import io
import json
import time
from urllib.parse import quote

import pytest

from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from gateway.errors import RecipientOptedOut
from gateway.rules.keywords import OPT_IN, OPT_OUT, KeywordRules
from gateway.values import ReceivedSms
from tests.api_client import Api
from tests.clock import at
from tests.conftest import wait_until

NOW = at(11, 26, 12)
SEND = "/api/v1/messages"


@pytest.mark.parametrize("text, action", [
    ("STOP", OPT_OUT), ("stop", OPT_OUT), ("  Stop. ", OPT_OUT), ("UN SUBSCRIBE", OPT_OUT), ("StopAll", OPT_OUT),
    ("cancel", OPT_OUT), ("END", OPT_OUT), ("quit!", OPT_OUT), ("start", OPT_IN), (" Unstop ", OPT_IN),
    ("stop sending me these", None), ("please stop", None), ("STOPS", None), ("", None),
])
def test_only_a_whole_message_that_is_a_keyword_counts(text, action):
    assert KeywordRules().action_of(text) == action


def test_keyword_lists_come_from_the_settings():
    rules = KeywordRules.from_settings(MessagingSettings(optout_keywords=("ARRET",), optin_keywords=("go",)))
    assert (rules.action_of("arret"), rules.action_of("STOP"), rules.action_of("GO")) == (OPT_OUT, None, OPT_IN)


def sms(sender, text, index=1):
    return ReceivedSms(memory="SM", index=index, sender=sender, text=text, sent_at=NOW, concat=None,
                       pdu_hex=f"PDU{index}{text}")


def test_inbound_stop_and_start_change_consent_with_the_inbox_message(store):
    store.inbox.record_received("m1", sms("+447911123456", "Stop"), NOW)
    assert store.consent.suppressed_among(["+447911123456", "+447911000000"]) == {"+447911123456"}
    store.inbox.record_received("m1", sms("+447911123456", "START", index=2), NOW)
    assert store.consent.suppressed_among(["+447911123456"]) == set()
    history = store.consent.consent_history("+447911123456")
    assert [(e.action, e.source) for e in history] == [(OPT_OUT, "sms"), (OPT_IN, "sms")]
    assert "modem m1" in history[0].detail
    assert sum(store.outbox.count_by_state().values()) == 0  # no reply configured


def post(client, auth, payload):
    return client.post(SEND, data=json.dumps(payload), headers={**auth, "Content-Type": "application/json"})


def test_marketing_to_an_opted_out_number_is_refused_and_transactional_is_not(client, auth, service):
    service.consent.set_consent("+447911123456", opted_out=True)
    refused = post(client, auth, {"to": ["+447911000001", "+447911123456"], "body": "Sale!", "class": "marketing"})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "recipient_opted_out"
    assert sum(service.store.outbox.count_by_state().values()) == 0  # nothing written, not even the other recipient
    assert post(client, auth, {"to": "+447911123456", "body": "Your code is 1", "class": "transactional"}
                ).status_code == 202
    assert post(client, auth, {"to": "+447911123456", "body": "Your code is 2"}).status_code == 202
    odd = post(client, auth, {"to": "+447911123456", "body": "x", "class": "spam"})
    assert odd.status_code == 400 and odd.json["error"]["field"] == "class"


def test_transactional_is_refused_too_when_configured(store):
    service = GatewayService(store, MessagingSettings(optout_blocks_transactional=True))
    service.consent.set_consent("07911 123456", opted_out=True)
    with pytest.raises(RecipientOptedOut):
        service.messages.send("+447911123456", "Your code is 1", message_class="transactional")


def test_admins_opt_numbers_out_and_in_and_the_history_exports_as_csv(client, auth, service):
    added = client.post("/api/v1/optouts/07911123456", headers=auth)
    assert added.status_code == 200 and added.json == {"number": "+447911123456", "opted_out": True, "changed": True}
    assert client.post("/api/v1/optouts/+447911123456", headers=auth).json["changed"] is False
    listed = client.get("/api/v1/optouts", headers=auth).json
    assert [o["number"] for o in listed["optouts"]] == ["+447911123456"]
    assert client.delete("/api/v1/optouts/+447911123456", headers=auth).json["opted_out"] is False
    listed = client.get("/api/v1/optouts", headers=auth).json
    assert listed["optouts"] == [] and [e["action"] for e in listed["history"]] == [OPT_OUT, OPT_OUT, OPT_IN]
    assert {e["source"] for e in listed["history"]} == {"admin"}
    exported = client.get("/api/v1/optouts.csv", headers=auth)
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    # a cell starting like a formula is quoted (OWASP's CSV injection rule): numbers start with +
    quoted = "'+447911123456"
    assert [(r["number"], r["action"]) for r in rows] == [(quoted, OPT_OUT)] * 2 + [(quoted, OPT_IN)]
    _, sender = service.keys.create_key("sender", ["send", "read"])
    assert client.post("/api/v1/optouts/+447911123456", headers={"X-API-Key": sender}).status_code == 403


def test_stop_is_confirmed_through_the_modem_it_came_in_on(gateway_factory, settings):
    reply = "You are unsubscribed. Reply START to resubscribe."
    override = settings.replace(messaging=MessagingSettings(optout_reply=reply, max_recipients=5))
    gateway, fakes, token = gateway_factory(2, settings_override=override)
    api = Api(gateway, token)
    wait_until(lambda: all(m["state"] == "online" for m in api.modems().values()) and len(api.modems()) == 2)
    fakes[1].inject_sms("+447911123456", " stop ")
    wait_until(lambda: fakes[1].sent, 15)
    assert [(s.number, s.text) for s in fakes[1].sent] == [("+447911123456", reply)] and fakes[0].sent == []
    refused = api.session.post(f"{api.base}/messages", json={"to": "+447911123456", "body": "Sale",
                                                             "class": "marketing"}, timeout=10)
    assert refused.status_code == 409
    fakes[1].inject_sms("+447911123456", "START")
    wait_until(lambda: api.session.get(f"{api.base}/optouts", timeout=10).json()["optouts"] == [])
    resent = api.send("+447911123456", "Sale", **{"class": "marketing"})
    assert resent["state"] in ("queued", "scheduled")  # scheduled: held by the recipient's quiet hours


def test_a_keyword_list_that_is_not_a_list_of_words_is_a_config_error():
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError):
        KeywordRules.from_settings(MessagingSettings(optout_keywords="STOP"))


def test_sms_from_alphanumeric_senders_and_with_control_characters_flow_through_every_path(gateway_factory,
                                                                                           settings):
    """`BANK` and `=1+2` send STOP, another sends text with C0 controls: each is stored and shown by the API, the
    SOAP door, the conversation view and the opt-out CSV; no reply is queued to an address that cannot take one."""
    import zeep
    from zeep.wsse.username import UsernameToken

    override = settings.replace(messaging=MessagingSettings(optout_reply="You are unsubscribed.", max_recipients=5))
    gateway, fakes, token = gateway_factory(1, settings_override=override)
    api = Api(gateway, token)
    wait_until(lambda: api.modems().get("modem1", {}).get("state") == "online")
    _, soap_token = gateway.service.keys.create_key("soap-app", ["send", "read"])
    fakes[0].inject_sms("BANK", "STOP")
    fakes[0].inject_sms("=1+2", "stop")
    fakes[0].inject_sms("+447911123456", "bell\x07 escape\x1b[31m nul\x00 end")
    inbox = wait_until(lambda: len(m := api.inbox()) == 3 and m)
    assert {m["from"] for m in inbox} == {"BANK", "=1+2", "+447911123456"}
    # C0 controls are kept; a NUL (PostgreSQL cannot store it) is shown as its picture, U+2400
    assert any("\x07" in m["text"] and "\u2400" in m["text"] for m in inbox)
    client = zeep.Client(f"http://127.0.0.1:{gateway.port}/soap?wsdl", wsse=UsernameToken("soap-app", soap_token))
    listed = client.service.ListInbox(limit=10).message
    assert {m["from"] for m in listed} == {"BANK", "=1+2", "+447911123456"}
    for sender in ("BANK", "=1+2", "+447911123456"):
        thread = api.session.get(f"{api.base}/conversations/{quote(sender, safe='')}", timeout=10)
        assert thread.status_code == 200, thread.text
    exported = api.session.get(f"{api.base}/optouts.csv", timeout=10).text
    assert "'=1+2" in exported and "BANK" in exported
    time.sleep(1)  # a reply, had one been queued, would have reached the modem by now
    assert fakes[0].sent == [] and api.session.get(f"{api.base}/messages", timeout=10).json()["messages"] == []
