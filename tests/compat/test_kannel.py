"""Kannel's sendsms door, with raw HTTP the way Kannel scripts call it (curl-style GETs and header POSTs),
checked on the exact reply texts and on what the fake modem put on the air."""

import http.client
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from tests.conftest import wait_until


@pytest.fixture
def box(compat_gateway):
    gateway, fakes, _ = compat_gateway(1, report_delay_ms=100)
    _, token = gateway.service.keys.create_key("kannel-user", ["send"])
    return gateway, fakes, token


def get(gateway, query: str):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("GET", "/cgi-bin/sendsms?" + query)
    response = conn.getresponse()
    return response.status, response.read().decode(), response.msg


def post(gateway, headers: dict, body: bytes, content_type="text/plain"):
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.request("POST", "/cgi-bin/sendsms", body=body, headers={"Content-Type": content_type, **headers})
    response = conn.getresponse()
    return response.status, response.read().decode()


def count(gateway) -> int:
    return len(gateway.service.messages.list_messages(limit=200)[0])


def test_a_kannel_get_is_accepted_and_goes_on_the_air(box):
    gateway, fakes, token = box
    status, text, headers = get(gateway, urlencode({"username": "kannel-user", "password": token,
                                                    "to": "+447911123456", "text": "Hello from a script"}))
    assert (status, text) == (202, "0: Accepted for delivery")
    wait_until(lambda: fakes[0].sent)
    assert [(s.number, s.text) for s in fakes[0].sent] == [("+447911123456", "Hello from a script")]
    assert gateway.service.messages.get_message(headers["X-Kannel-Message-ID"]).to_number == "+447911123456"


def test_user_pass_aliases_several_recipients_and_a_charset(box):
    gateway, fakes, token = box
    query = (f"user=kannel-user&pass={quote(token)}&to=%2B447911123456+%2B306912345678"
             f"&charset=ISO-8859-1&text=" + quote("caf\xe9 \xe0 10\xa3".encode("latin-1")))
    assert get(gateway, query)[:2] == (202, "0: Accepted for delivery")
    wait_until(lambda: len(fakes[0].sent) == 2)
    assert sorted((s.number, s.text) for s in fakes[0].sent) == [("+306912345678", "café à 10£"),
                                                                  ("+447911123456", "café à 10£")]


def test_the_header_post_is_accepted_and_a_form_post_is_refused(box):
    gateway, fakes, token = box
    headers = {"X-Kannel-Username": "kannel-user", "X-Kannel-Password": token, "X-Kannel-To": "+447911123456"}
    assert post(gateway, headers, "Grüße per POST".encode()) == (202, "0: Accepted for delivery")
    wait_until(lambda: fakes[0].sent)
    assert fakes[0].sent[0].text == "Grüße per POST"
    form = urlencode({"username": "kannel-user", "password": token, "to": "+447911123456", "text": "x"}).encode()
    assert post(gateway, {}, form, "application/x-www-form-urlencoded") == (400, "Invalid content-type")
    assert count(gateway) == 1


@pytest.mark.parametrize("params, reply", [
    ({"username": "kannel-user", "password": "smsgw_wrong"}, (403, "Authorization failed for sendsms")),
    ({"username": "someone-else"}, (403, "Authorization failed for sendsms")),
    ({"to": ""}, (400, "Missing receiver number, rejected")),
    ({"to": "not-a-number"}, (403, "Not routable. Do not try again.")),
    ({"smsc": "no-such-modem"}, (403, "Not routable. Do not try again.")),
    ({"text": "x" * 161 * 11}, (400, "Message too long, rejected")),
    ({"dlr-mask": "abc"}, (400, "DLR-Mask field misformed, rejected")),
    ({"dlr-mask": "64"}, (400, "DLR-Mask field misformed, rejected")),
    ({"coding": "3"}, (400, "Coding field misformed, rejected")),
    ({"coding": "1"}, (400, "Coding field not supported (8-bit), rejected")),
    ({"mclass": "0"}, (400, "MClass field not supported, rejected")),
    ({"mclass": "7"}, (400, "MClass field misformed, rejected")),
    ({"udh": "\x06\x05\x04\x0b\x84\x23\xf0"}, (400, "UDH field not supported, rejected")),
    ({"validity": "-5"}, (400, "Validity field misformed, rejected")),
    ({"deferred": "soon"}, (400, "Deferred field misformed, rejected")),
    ({"priority": "4"}, (400, "Priority field misformed, rejected")),
    ({"charset": "no-such-charset"}, (400, "Charset or body misformed, rejected")),
    ({"charset": "UTF-16BE", "text": "odd"}, (400, "Charset or body misformed, rejected")),
])
def test_refusals_answer_kannels_texts_and_change_nothing(box, params, reply):
    gateway, fakes, token = box
    query = {"username": "kannel-user", "password": token, "to": "+447911123456", "text": "hi", **params}
    assert get(gateway, urlencode(query))[:2] == reply
    assert count(gateway) == 0


def test_a_key_without_the_send_scope_is_refused(box):
    gateway, _, _ = box
    _, reader = gateway.service.keys.create_key("reader", ["read"])
    query = urlencode({"username": "reader", "password": reader, "to": "+447911123456", "text": "hi"})
    assert get(gateway, query)[:2] == (403, "Authorization failed for sendsms")


def test_dlr_url_is_fetched_for_the_masked_report_types_with_escapes_replaced(box, raw_receiver):
    gateway, fakes, token = box
    dlr_url = raw_receiver.base + "/dlr?type=%d&to=%p&id=%I&answer=%A&ts=%T"
    status, _, headers = get(gateway, urlencode({"username": "kannel-user", "password": token,
                                                 "to": "+447911123456", "text": "report me",
                                                 "dlr-mask": "9", "dlr-url": dlr_url}))
    assert status == 202
    uid = headers["X-Kannel-Message-ID"]
    calls = raw_receiver.wait_for(2)
    assert [c["method"] for c in calls] == ["GET", "GET"]
    queries = [parse_qs(urlsplit(c["path"]).query) for c in calls]
    assert [q["type"] for q in queries] == [["8"], ["1"]]  # accepted by the SMS centre, then delivered
    assert all(q["to"] == ["+447911123456"] and q["id"] == [uid] and q["ts"][0].isdigit() for q in queries)
    assert [q["answer"] for q in queries] == [["ACK/"], ["DELIVRD"]]
    assert gateway.service.messages.get_message(uid).delivery_report is True


def test_a_dlr_mask_without_delivered_bits_gets_only_what_it_asked_for(box, raw_receiver):
    gateway, fakes, token = box
    get(gateway, urlencode({"username": "kannel-user", "password": token, "to": "+447911123456",
                            "text": "smsc only", "dlr-mask": "8", "dlr-url": raw_receiver.base + "/d?t=%d"}))
    [call] = raw_receiver.wait_for(1)
    assert call["path"] == "/d?t=8"


def test_deferred_validity_priority_and_coding_map_to_the_gateways_options(box):
    gateway, fakes, token = box
    before = gateway.service.clock()
    status, _, headers = get(gateway, urlencode({"username": "kannel-user", "password": token, "to": "+447911123456",
                                                 "text": "later", "deferred": "30", "validity": "90",
                                                 "priority": "2"}))
    assert status == 202
    later = gateway.service.messages.get_message(headers["X-Kannel-Message-ID"])
    assert later.state.value == "scheduled" and later.priority == 0
    assert timedelta(minutes=30) <= later.next_attempt_at - before < timedelta(minutes=31)
    assert later.expires_at - later.next_attempt_at == timedelta(minutes=90)
    status, _, headers = get(gateway, urlencode({"username": "kannel-user", "password": token, "to": "+447911123456",
                                                 "text": "plain ASCII", "coding": "2", "charset": "UTF-8",
                                                 "priority": "0"}))
    assert status == 202
    forced = gateway.service.messages.get_message(headers["X-Kannel-Message-ID"])
    assert (forced.encoding, forced.priority) == ("ucs2", 1)
    wait_until(lambda: fakes[0].sent)
    assert [(s.text, s.encoding) for s in fakes[0].sent] == [("plain ASCII", "ucs2")]


def test_a_utf16_text_with_coding_2_is_read_as_kannel_reads_it(box):
    gateway, fakes, token = box
    text = "Привет, мир"
    query = (f"username=kannel-user&password={quote(token)}&to=%2B447911123456&coding=2"
             f"&text=" + quote(text.encode("utf-16-be")))  # no charset: UTF-16BE, as Kannel assumes for coding=2
    assert get(gateway, query)[:2] == (202, "0: Accepted for delivery")
    query = (f"username=kannel-user&password={quote(token)}&to=%2B306912345678&charset=UTF-16BE"
             f"&text=" + quote("Grüße".encode("utf-16-be")))
    assert get(gateway, query)[:2] == (202, "0: Accepted for delivery")
    wait_until(lambda: len(fakes[0].sent) == 2)
    assert sorted((s.number, s.text, s.encoding) for s in fakes[0].sent) == [
        ("+306912345678", "Grüße", "gsm7"), ("+447911123456", text, "ucs2")]


@pytest.fixture
def get_url_box(compat_gateway, raw_receiver):
    from web.compat.kannel.settings import KannelSettings

    url = raw_receiver.base + "/sms?from=%p&to=%P&kw=%k&next=%s&rest=%r&all=%a&smsc=%i&ts=%T&pct=%%"
    gateway, fakes, _ = compat_gateway(1, config={"kannel": KannelSettings(get_url=url)})
    return gateway, fakes


def test_get_url_is_fetched_for_each_received_sms_and_its_answer_is_the_reply(get_url_box, raw_receiver):
    gateway, fakes = get_url_box
    raw_receiver.answers += [(503, "text/plain", b"busy"),  # retried through the webhook outbox
                             (200, "text/plain; charset=utf-8", b"  Your balance:\n  10 \xe2\x82\xac  ")]
    fakes[0].inject_sms("+447911123456", "BAL  now  please")
    first, again = raw_receiver.wait_for(2)
    assert first["path"] == again["path"] and again["method"] == "GET"
    query = parse_qs(urlsplit(again["path"]).query, keep_blank_values=True)
    assert {k: v[0] for k, v in query.items() if k != "ts"} == {
        "from": "+447911123456", "to": "+447911000001", "kw": "BAL", "next": "now", "rest": "please",
        "all": "BAL now please",
        "smsc": "modem1", "pct": "%"}
    assert query["ts"][0].isdigit()
    wait_until(lambda: fakes[0].sent)
    assert [(s.number, s.text) for s in fakes[0].sent] == [("+447911123456", "Your balance: 10 €")]
    [inbound] = gateway.service.messages.list_inbox()[0]
    assert inbound.recipient == "+447911000001"  # the fake SIM's number (+CNUM)
    reply = gateway.service.messages.get_message(gateway.service.messages.list_messages()[0][0].uid)
    assert reply.events[0].detail == f"reply to {inbound.uid}"


def test_a_long_answer_is_cut_to_one_sms_as_kannels_max_messages_1_does(get_url_box, raw_receiver):
    gateway, fakes = get_url_box
    gsm = "€" + "x" * 200  # '€' takes two of the 160 septets
    ucs2 = "Ж" * 69 + "😀" + "tail"  # the emoji takes two of the 70 UTF-16 units: it does not fit
    raw_receiver.answers += [(200, "text/plain; charset=utf-8", gsm.encode()),
                             (200, "text/plain; charset=utf-8", ucs2.encode())]
    fakes[0].inject_sms("+447911123456", "first")
    raw_receiver.wait_for(1)
    wait_until(lambda: fakes[0].sent)
    fakes[0].inject_sms("+447911123456", "second")
    wait_until(lambda: len(fakes[0].sent) == 2)
    assert [(s.text, s.encoding) for s in fakes[0].sent] == [("€" + "x" * 158, "gsm7"), ("Ж" * 69, "ucs2")]
    assert all(m.part_count == 1 for m in gateway.service.messages.list_messages()[0])


def test_first_sms_keeps_whole_characters():
    from gateway.rules.text import first_sms

    assert first_sms("a" * 160) == "a" * 160 and first_sms("a" * 159 + "€") == "a" * 159
    assert first_sms("ü" * 70 + "ж") == "ü" * 70  # 'ü' is GSM-7; the 'ж' makes it UCS-2: 70 units
    assert first_sms("") == ""


def test_an_empty_or_non_text_answer_sends_nothing(get_url_box, raw_receiver):
    gateway, fakes = get_url_box
    raw_receiver.answers += [(200, "text/plain", b"   "), (200, "text/html", b"<p>hello</p>")]
    fakes[0].inject_sms("+447911123456", "first")
    fakes[0].inject_sms("+447911123456", "second")
    raw_receiver.wait_for(2)
    [webhook] = gateway.service.receivers.list_webhooks()
    wait_until(lambda: [d.state.value for d, _, _ in gateway.service.receivers.list_deliveries(webhook.uid)]
               == ["delivered", "delivered"])
    assert gateway.service.messages.list_messages()[0] == [] and fakes[0].sent == []


def test_the_kannel_section_is_read_from_the_config():
    from gateway.appliance.doors import gateway_doors
    from gateway.config import settings_from_mapping
    from gateway.errors import ConfigError

    doors = gateway_doors()
    settings = settings_from_mapping({"kannel": {"get_url": "http://app.lan/sms?from=%p&text=%a"}}, doors=doors)
    assert [str(t) for t in doors.receivers(settings)] == ["kannel-get+http://app.lan/sms?from=%p&text=%a"]
    with pytest.raises(ConfigError, match="kannel.get_url"):
        doors.receivers(settings_from_mapping({"kannel": {"get_url": "ftp://app.lan/"}}, doors=doors))


def test_get_url_escapes_follow_kannels_table():
    from web.compat.kannel.callbacks import sms_url as kannel_sms_url

    data = {"id": "inb_1", "from": "+447911123456", "modem": "modem1", "text": "GO  fetch*it  a+b c",
            "sent_at": "2026-01-02T03:04:05Z", "received_at": "2026-01-02T03:04:09Z"}
    url = "http://app/s?k=%k&S1=%S&s2=%s&r=%r&b=%b&q=%q&t=%t&T=%T&n=%n&u=%u"
    assert kannel_sms_url(url, data) == (
        "http://app/s?k=GO&S1=fetch~it&s2=a%2Bb&r=c&b=GO%20%20fetch%2Ait%20%20a%2Bb%20c&q=%2B447911123456"
        "&t=2026-01-02%2003%3A04%3A05&T=1767323045&n=smsgw&u=%u")
