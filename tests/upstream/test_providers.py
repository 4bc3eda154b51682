"""Upstream providers against a loopback HTTP server that answers as we tell it (tests/conftest.RawReceiver): what
each kind sends, how each answer is read (accepted, refused for now or for good, the upstream's own trouble, no
answer at all), the circuit breaker, and receipts in each kind's shape."""

from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.config import UpstreamSettings
from gateway.errors import (ConfigError, ModemFaultSendError, ModemUnavailable, PermanentSendError, SendOutcomeUnknown,
                            TemporarySendError)
from gateway.upstream.driver import UpstreamDriver
from gateway.upstream.providers import read_receipt

TO = "+447911123456"


def receipt_url(name: str, uid: str) -> str:
    return f"http://127.0.0.1:8080/receipts/{name}/{uid}/sig"


def driver(**settings) -> UpstreamDriver:
    return UpstreamDriver(UpstreamSettings(name="up", receipts_to="http://127.0.0.1:8080", **settings), receipt_url)


def send(up: UpstreamDriver, text: str = "héllo", *, receipt: bool = True) -> str | None:
    return up.send_message("msg_1", TO, text, unicode=False, receipt=receipt)


def test_http_kind_fills_its_template_for_a_json_body_and_reads_the_id(raw_receiver):
    raw_receiver.answers.append((200, "application/json", b'{"ok": true, "data": {"id": "abc-42"}}'))
    up = driver(kind="http", url=raw_receiver.base + "/send?key=$password", password="p w&",
                content_type="application/json",
                body='{"to": $to, "text": $text, "ref": $id, "callback": $receipt_url}',
                success_match='"ok": true', id_pattern=r'"id": "([^"]+)"')
    assert send(up, 'say "hi"\n') == "abc-42"
    [request] = raw_receiver.requests
    assert request["method"] == "POST" and request["path"] == "/send?key=p%20w%26"
    assert json.loads(request["body"]) == {"to": TO, "text": 'say "hi"\n', "ref": "msg_1",
                                           "callback": "http://127.0.0.1:8080/receipts/up/msg_1/sig"}


def test_http_kind_form_body_and_an_answer_without_the_success_text_fails_the_message(raw_receiver):
    raw_receiver.answers.append((200, "text/plain", b"ERR: no credit"))
    up = driver(kind="http", url=raw_receiver.base + "/send", body="to=$to&msg=$text", success_match="^OK")
    with pytest.raises(PermanentSendError, match="success_match: ERR: no credit"):
        send(up, "a&b")
    assert parse_qs(raw_receiver.requests[0]["body"].decode()) == {"to": [TO], "msg": ["a&b"]}


def test_kannel_kind_asks_for_a_dlr_and_says_which_coding(raw_receiver):
    raw_receiver.answers.append((202, "text/html", b"0: Accepted for delivery"))
    up = driver(kind="kannel", url=raw_receiver.base + "/cgi-bin/sendsms", username="u", password="p", sender="Shop")
    assert up.send_message("msg_1", TO, "Привет", unicode=True, receipt=True) is None
    query = parse_qs(urlsplit(raw_receiver.requests[0]["path"]).query)
    assert {k: v[0] for k, v in query.items()} == {
        "username": "u", "password": "p", "to": TO, "text": "Привет", "charset": "UTF-8", "coding": "2",
        "from": "Shop", "dlr-mask": "3", "dlr-url": "http://127.0.0.1:8080/receipts/up/msg_1/sig?type=%d"}


def test_twilio_kind_posts_the_messages_api_and_reads_its_errors(raw_receiver):
    raw_receiver.answers += [
        (201, "application/json", b'{"sid": "SM123", "status": "queued"}'),
        (400, "application/json", b'{"code": 21211, "message": "The \'To\' number is not a valid phone number."}'),
        (401, "application/json", b'{"code": 20003, "message": "Authenticate"}'),
        (429, "application/json", b'{"code": 20429, "message": "Too Many Requests"}'),
    ]
    up = driver(kind="twilio", url=raw_receiver.base, account_sid="AC1", auth_token="t", sender="+447700900001")
    assert send(up) == "SM123"
    request = raw_receiver.requests[0]
    assert request["path"] == "/2010-04-01/Accounts/AC1/Messages.json"
    assert request["headers"]["Authorization"] == "Basic QUMxOnQ="
    assert parse_qs(request["body"].decode()) == {"To": [TO], "From": ["+447700900001"], "Body": ["héllo"],
                                                  "StatusCallback": ["http://127.0.0.1:8080/receipts/up/msg_1/sig"]}
    with pytest.raises(PermanentSendError, match="Twilio 21211") as refused:
        send(up, receipt=False)
    assert (refused.value.error_kind, refused.value.error_code) == ("TWILIO", 21211)
    with pytest.raises(ModemFaultSendError, match="refused us"):  # our credentials: the upstream's trouble
        send(up)
    with pytest.raises(TemporarySendError):
        send(up)
    assert "StatusCallback" not in parse_qs(raw_receiver.requests[1]["body"].decode())


def test_failures_in_a_row_open_the_breaker_and_a_success_closes_the_count(raw_receiver):
    raw_receiver.answers += [(503, "text/plain", b"busy"), (200, "text/plain", b"OK"),
                             (500, "text/plain", b""), (502, "text/plain", b""), (503, "text/plain", b"")]
    up = driver(kind="http", url=raw_receiver.base + "/send", breaker_after=3)
    with pytest.raises(TemporarySendError, match="HTTP 503: busy"):
        send(up)
    send(up)
    for _ in range(2):
        with pytest.raises(TemporarySendError):
            send(up)
    assert up.is_alive()
    with pytest.raises(TemporarySendError):
        send(up)
    assert not up.is_alive()  # the worker closes it and opens it again after its backoff


def test_a_provider_that_cannot_be_reached_sent_nothing_and_one_that_never_answers_may_have():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    up = driver(kind="http", url=f"http://127.0.0.1:{port}/send")
    with pytest.raises(ModemFaultSendError, match="cannot be reached"):
        send(up)
    with pytest.raises(ModemUnavailable, match="cannot be reached"):
        up.open()
    with socket.socket() as silent:  # accepts the connection, reads the request, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        up = driver(kind="http", url=f"http://127.0.0.1:{silent.getsockname()[1]}/send", timeout_s=0.3)
        with pytest.raises(SendOutcomeUnknown, match="no answer"):
            send(up)


@pytest.mark.parametrize("kind, fields, delivered", [
    ("twilio", {"MessageStatus": "delivered"}, True),
    ("twilio", {"MessageStatus": "undelivered", "ErrorCode": "30003"}, False),
    ("twilio", {"MessageStatus": "sent"}, None),
    ("kannel", {"type": "1"}, True),
    ("kannel", {"type": "16"}, False),
    ("kannel", {"type": "8"}, None),
    ("kannel", {"type": "%d"}, None),
    ("http", {"status": "DELIVRD"}, True),
    ("http", {"status": "rejected"}, False),
    ("http", {"status": "enroute"}, None),
    ("http", {}, None),
])
def test_receipts_in_each_kinds_shape(kind, fields, delivered):
    settings = UpstreamSettings(name="up", kind=kind, url="http://127.0.0.1/", account_sid="AC1", auth_token="t",
                                sender="+447700900001")
    assert read_receipt(settings, fields).delivered is delivered


@pytest.mark.parametrize("fields, wrong", [
    ({"kind": "smpp"}, "kind"),
    ({"url": "ftp://x"}, "url"),
    ({"use": "sometimes"}, "use"),
    ({"priority": "urgent"}, "priority"),
    ({"id_pattern": "("}, "id_pattern"),
    ({"kind": "twilio"}, "account_sid"),
])
def test_a_wrong_upstream_is_refused_at_start(fields, wrong):
    with pytest.raises(ConfigError) as refused:
        UpstreamSettings(**{"name": "up", "kind": "http", "url": "http://127.0.0.1/", **fields})
    assert wrong in refused.value.field
