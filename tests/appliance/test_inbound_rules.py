"""Inbound rules end to end: rules made over real HTTP, SMS arriving at a fake modem, replies and forwards seen
at the fake modem, webhook and mail actions at real receivers; the loop guards; the API's refusals."""

from __future__ import annotations

import statistics
import time

import pytest
import requests

from gateway.config import MessagingSettings, Settings
from tests.appliance.test_email import MailCatcher, email_settings
from tests.conftest import wait_until
from tests.receiver import Receiver

OWN_NUMBER = "+447911000001"  # the fake modem's SIM


@pytest.fixture
def rules_gateway(gateway_factory, settings: Settings):
    catchers: list[MailCatcher] = []

    def start(*, replies_per_hour: int = 5, mail: bool = False):
        messaging = MessagingSettings(max_recipients=5, retry_base_s=0.2, retry_max_s=1.0,
                                      rule_replies_per_hour=replies_per_hour)
        changed = settings.replace(messaging=messaging)
        if mail:
            catchers.append(MailCatcher())
            changed = changed.replace(email=email_settings(catchers[-1].port))
        gateway, [fake], token = gateway_factory(1, settings_override=changed)
        wait_until(lambda: gateway.store.modems.list_modems()[0].state.value == "online")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        base = f"http://127.0.0.1:{gateway.port}/api/v1"
        return gateway, fake, session, base, (catchers[-1] if mail else None)

    yield start
    for catcher in catchers:
        catcher.stop()


def add(session, base, **rule):
    response = session.post(f"{base}/rules", json=rule, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def sent_to(fake, number):
    return [s.text for s in fake.sent if s.number == number]


def test_a_keyword_gets_an_auto_reply_from_the_same_modem_threaded_to_the_sms(rules_gateway):
    gateway, fake, session, base, _ = rules_gateway(replies_per_hour=100)
    add(session, base, name="Opening hours", keyword="HOURS", reply="Hi {from}, we are open 9-5. You asked: {rest}")
    latencies = []
    for i in range(5):
        sender = f"+4479111234{i:02d}"
        injected = time.monotonic()
        fake.inject_sms(sender, f"hóurs on Saturday {i}?")
        wait_until(lambda: sent_to(fake, sender))
        latencies.append((fake.timed_commands[-1][0] - injected) * 1000)
        assert sent_to(fake, sender) == [f"Hi {sender}, we are open 9-5. You asked: on Saturday {i}?"]
    fake.inject_sms("+447911123499", "What time do you open?")  # no keyword: no reply
    inbox = wait_until(lambda: len(items := session.get(f"{base}/inbox").json()["messages"]) == 6 and items)
    time.sleep(0.3)
    assert not sent_to(fake, "+447911123499")
    reply = wait_until(lambda: [m for m in session.get(f"{base}/messages").json()["messages"]
                                if m["to"] == "+447911123400"])[0]
    assert reply["modem"] == "modem1"
    runs = session.get(f"{base}/rules/{session.get(f'{base}/rules').json()['rules'][0]['id']}/runs").json()["runs"]
    assert len(runs) == 5 and all(r["replied"] for r in runs)
    assert {r["inbox_id"] for r in runs} <= {m["id"] for m in inbox}
    print(f"inbound SMS → auto-reply at the modem: median {statistics.median(latencies):.0f} ms")


def test_rules_run_in_order_and_stop_ends_the_run(rules_gateway):
    gateway, fake, session, base, _ = rules_gateway()
    add(session, base, name="catch-all", pattern=".", forward_to=["+447912345678"], forward_text="Fwd {from}: {text}")
    add(session, base, name="vip", senders=["+4479111*"], reply="A person will call you", stop=True, follow_up=True,
        position=0)
    fake.inject_sms("+447911123456", "Please call me")
    wait_until(lambda: sent_to(fake, "+447911123456"))
    time.sleep(0.3)
    assert sent_to(fake, "+447912345678") == []  # the vip rule stopped the run
    [sms] = session.get(f"{base}/inbox").json()["messages"]
    assert sms["follow_up"] is True
    fake.inject_sms("+12025550143", "Hello from abroad")  # not a vip: the catch-all forwards it
    wait_until(lambda: sent_to(fake, "+447912345678") == ["Fwd +12025550143: Hello from abroad"])


def test_loop_guards_hold_replies_to_alphanumeric_senders_own_sims_and_chatty_numbers(rules_gateway):
    gateway, fake, session, base, _ = rules_gateway(replies_per_hour=2)
    rule = add(session, base, name="echo", pattern=".", reply="Got it")
    fake.inject_sms("BANK", "Your balance is low")
    fake.inject_sms(OWN_NUMBER, "from our own SIM")
    for i in range(4):
        fake.inject_sms("+447911123456", f"message {i}")
    wait_until(lambda: len(session.get(f"{base}/rules/{rule['id']}/runs").json()["runs"]) == 6)
    time.sleep(0.3)
    assert sent_to(fake, "+447911123456") == ["Got it", "Got it"]
    assert not sent_to(fake, OWN_NUMBER) and [s for s in fake.sent if not s.number.startswith("+")] == []
    outcomes = [r["outcome"] for r in session.get(f"{base}/rules/{rule['id']}/runs").json()["runs"]]
    assert sum("rule_replies_per_hour" in o for o in outcomes) == 2
    assert sum("own SIMs" in o for o in outcomes) == 1


def test_a_rule_posts_the_sms_to_its_webhook_and_mails_it(rules_gateway):
    receiver = Receiver()
    try:
        gateway, fake, session, base, catcher = rules_gateway(mail=True)
        add(session, base, name="orders", keyword="order", webhook_url=receiver.url,
            email_to=["orders@example.org"])
        fake.inject_sms("+447911123456", "ORDER 1234 status?")
        assert receiver.wait_for(lambda r: r.events("message.received"))
        [event] = receiver.events("message.received")
        assert event["data"]["text"] == "ORDER 1234 status?"
        wait_until(lambda: len(catcher.mails) == 2)  # the rule's, and the box's forward_inbound_to
        assert sorted(mail["To"] for _, mail in catcher.mails) == ["ops@example.org", "orders@example.org"]
    finally:
        receiver.release.set()
        receiver.down()


def test_the_test_box_says_what_each_rule_would_do_and_sends_nothing(rules_gateway):
    gateway, fake, session, base, _ = rules_gateway()
    add(session, base, name="hours", keyword="hours", reply="Open 9-5")
    add(session, base, name="all", pattern=".", forward_to=["+447912345678"])
    answer = session.post(f"{base}/rules/test", json={"sender": "+447911123456", "text": "Hours?"}).json()
    assert [(v["name"], v["matched"], v["reply"], v["forward_to"]) for v in answer["verdicts"]] == [
        ("hours", True, "Open 9-5", []), ("all", True, None, ["+447912345678"])]
    assert fake.sent == []


def test_rules_are_changed_moved_and_deleted_and_wrong_ones_refused(rules_gateway):
    gateway, fake, session, base, _ = rules_gateway()
    first = add(session, base, name="a", keyword="a")
    second = add(session, base, name="b", keyword="b")
    moved = session.put(f"{base}/rules/{second['id']}", json={"position": 0, "keyword": None, "pattern": "^b"}).json()
    assert (moved["position"], moved["keyword"], moved["pattern"]) == (0, None, "^b")
    assert [r["name"] for r in session.get(f"{base}/rules").json()["rules"]] == ["b", "a"]
    refusals = [
        ({"name": "x", "pattern": "(unclosed"}, 400, "pattern"),
        ({"name": "x", "reply": "Hello {name}"}, 400, "reply"),
        ({"name": "x", "forward_to": ["not a number"]}, 422, "forward_to"),
        ({"name": "x", "email_to": ["ops@example.org"]}, 400, "email_to"),  # no [email] on this box
        ({"name": "x", "hours": "9 to 5"}, 400, "hours"),
        ({"name": ""}, 400, "name"),
        ({"keyword": "x"}, 400, "name"),
        ({"name": "x", "senders": "+44"}, 400, "senders"),
        ({"name": "x", "colour": "red"}, 400, "colour"),
    ]
    for body, status, field in refusals:
        response = session.post(f"{base}/rules", json=body)
        assert (response.status_code, response.json()["error"]["field"]) == (status, field), (body, response.text)
    assert session.delete(f"{base}/rules/{first['id']}").status_code == 204
    assert session.get(f"{base}/rules/{first['id']}").status_code == 404
    assert [r["position"] for r in session.get(f"{base}/rules").json()["rules"]] == [0]


def test_rules_put_senders_in_contact_groups_and_match_on_them(rules_gateway):
    gateway, fake, session, base, _ = rules_gateway(replies_per_hour=100)
    assert session.post(f"{base}/groups", json={"name": "Subscribers"}, timeout=10).status_code == 201
    clinic = gateway.service.accounts.add_account("clinic")
    theirs = gateway.service.contacts.add_group("Subscribers", account=clinic)  # a rule names every account's
    unknown = session.post(f"{base}/rules", json={"name": "x", "sender_groups": ["Nobody"]}, timeout=10)
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (400, "sender_groups")
    add(session, base, name="Join", keyword="JOIN", add_to_group="Subscribers", reply="Welcome!")
    add(session, base, name="Leave", keyword="LEAVE", remove_from_group="Subscribers", reply="Bye!")
    add(session, base, name="News", keyword="NEWS", sender_groups=["Subscribers"], reply="Today: sunny")
    member, stranger = "+447911123401", "+447911123402"

    fake.inject_sms(stranger, "news")
    fake.inject_sms(member, "join")
    wait_until(lambda: sent_to(fake, member) == ["Welcome!"])
    contact, in_clinic = session.get(f"{base}/contacts", timeout=10).json()["contacts"]
    assert (contact["number"], contact["name"], contact["groups"]) == (member, "", ["Subscribers"])
    assert (in_clinic["number"], in_clinic["groups"]) == (member, ["Subscribers"])  # the clinic's own contact
    assert gateway.service.contacts.get_group(theirs.uid, clinic)[1] == 1
    tried = session.post(f"{base}/rules/test", json={"sender": member, "text": "NEWS"}, timeout=10).json()
    assert [v["name"] for v in tried["verdicts"] if v["matched"]] == ["News"]

    fake.inject_sms(member, "News please")
    wait_until(lambda: sent_to(fake, member) == ["Welcome!", "Today: sunny"])
    fake.inject_sms(member, "LEAVE")
    wait_until(lambda: sent_to(fake, member) == ["Welcome!", "Today: sunny", "Bye!"])
    assert session.get(f"{base}/contacts/{contact['id']}", timeout=10).json()["groups"] == []
    assert session.get(f"{base}/contacts/{in_clinic['id']}", timeout=10).json()["groups"] == []
    fake.inject_sms(member, "news")
    wait_until(lambda: len(session.get(f"{base}/inbox", timeout=10).json()["messages"]) == 5)
    time.sleep(0.5)  # a reply would have been queued by now: the rules ran once the SMS was committed
    assert sent_to(fake, member) == ["Welcome!", "Today: sunny", "Bye!"] and sent_to(fake, stranger) == []
    news = session.get(f"{base}/rules", timeout=10).json()["rules"][2]
    assert news["sender_groups"] == ["Subscribers"]
    assert len(session.get(f"{base}/rules/{news['id']}/runs", timeout=10).json()["runs"]) == 1
