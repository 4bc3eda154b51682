"""Kannel's sendsms door, with raw HTTP the way Kannel scripts call it (curl-style GETs and header POSTs),
checked on the exact reply texts and on what the fake modem put on the air."""

import http.client
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from tests.conftest import wait_until


@pytest.fixture
def box(compat_gateway):
    gateway, fakes, _ = compat_gateway(1, report_delay_ms=100)
    _, token = gateway.service.create_key("kannel-user", ["send"])
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
    return len(gateway.service.list_messages(limit=200)[0])


def test_a_kannel_get_is_accepted_and_goes_on_the_air(box):
    gateway, fakes, token = box
    status, text, headers = get(gateway, urlencode({"username": "kannel-user", "password": token,
                                                    "to": "+447911123456", "text": "Hello from a script"}))
    assert (status, text) == (202, "0: Accepted for delivery")
    wait_until(lambda: fakes[0].sent)
    assert [(s.number, s.text) for s in fakes[0].sent] == [("+447911123456", "Hello from a script")]
    assert gateway.service.get_message(headers["X-Kannel-Message-ID"]).to_number == "+447911123456"


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
    ({"dlr-mask": "abc"}, (400, "Invalid dlr-mask, rejected")),
])
def test_refusals_answer_kannels_texts_and_change_nothing(box, params, reply):
    gateway, fakes, token = box
    query = {"username": "kannel-user", "password": token, "to": "+447911123456", "text": "hi", **params}
    assert get(gateway, urlencode(query))[:2] == reply
    assert count(gateway) == 0


def test_a_key_without_the_send_scope_is_refused(box):
    gateway, _, _ = box
    _, reader = gateway.service.create_key("reader", ["read"])
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
    assert gateway.service.get_message(uid).delivery_report is True


def test_a_dlr_mask_without_delivered_bits_gets_only_what_it_asked_for(box, raw_receiver):
    gateway, fakes, token = box
    get(gateway, urlencode({"username": "kannel-user", "password": token, "to": "+447911123456",
                            "text": "smsc only", "dlr-mask": "8", "dlr-url": raw_receiver.base + "/d?t=%d"}))
    [call] = raw_receiver.wait_for(1)
    assert call["path"] == "/d?t=8"
