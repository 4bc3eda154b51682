"""Hostile input to every route of every door (the API, Kannel, SOAP, Twilio, SMS Gateway for Android): each
answer is the door's own refusal or a success, never a server error, and the app logs no traceback.

Values are drawn from the classes that broke gateways before: extreme numbers (NaN, Infinity, 1e308, 5,000-digit
integers), non-ASCII digits, NUL and C0 controls, dates past 9999, deep nesting, long strings, odd cursors. A
SOAP fault travels with HTTP 500 (SOAP 1.1, section 6.2): there the check is that it is a `soap:Client` fault."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections import Counter
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.appliance.doors import gateway_doors
from gateway.core.service import GatewayService
from web import create_app
from tests.receiver import LOOPBACK
from web.compat.twilio.accounts import sid_of_token

EXAMPLES = 300  # per door
HOSTILE = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                          HealthCheck.filter_too_much])
EXAMPLES_RUN: Counter[str] = Counter()

NAMED = ["NaN", "Infinity", "-Infinity", "1e308", "-1e308", "1e999", "-1", "0", "9" * 5000, "1" + "0" * 400,
         "١٢٣", "٠٧٩١١١٢٣٤٥٦", "１２３", "\x00", "a\x00b", "\x01\x02\x1b[31m", "\r\n", "\t",
         "9999-12-31T23:59:59Z",
         "10000-01-01T00:00:00Z", "+275760-09-13T00:00:00Z", "0000-00-00", "2026-02-30T25:61:61Z",
         "P99999999999999999999D", "PT1e9S", "Europe/Nowhere", "../../etc/passwd", "x" * 5000, "%", "%00", "'\"<>&",
         "=1+2", "@SUM(A1)", "BANK", "", " ", "true", "null", "[]", "{}", "0x10", "+447911123456", "msg_0", "-0",
         "\ud800", "\U0001F600" * 100]
texts = st.one_of(st.sampled_from(NAMED), st.sampled_from(NAMED), st.text(max_size=40),
                  st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=10),
                  st.integers(min_value=-(10**30), max_value=10**30).map(str))
json_values = st.recursive(
    st.one_of(texts, st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
              st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([float("nan"), float("inf"), 1e308])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
FIELDS = ["to", "body", "validity", "send_at", "priority", "time_zone", "delivery_report", "via", "status_callback",
          "class", "template", "params", "quiet_hours", "url", "events", "name", "code", "text", "limit", "cursor",
          "status", "since", "until", "number", "message", "phoneNumbers", "ttl", "validUntil", "simNumber",
          "withDeliveryReport", "isEncrypted", "priority", "id", "event", "To", "From", "Body", "StatusCallback",
          "ValidityPeriod", "SendAt", "PageSize", "Page", "PageToken", "DateSent", "DateSent<", "DateSent>",
          "username", "password", "user", "pass", "text", "coding", "charset", "mclass", "dlr-mask", "dlr-url",
          "deferred", "validity", "smsc", "from", "udh", "account", "binfo", "alt-dcs", "rpi", "pid", "meta-data"]
SOAP_ELEMENTS = ["to", "body", "deliveryReport", "via", "statusCallback", "priority", "sendAt", "timeZone", "validity",
                 "messageClass", "quietHours", "id", "cursor", "limit"]
SOAP_ENVELOPE = ('<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
                 'xmlns:tns="urn:smsgw:soap:1"><soap:Body><tns:{op}>{children}</tns:{op}></soap:Body>'
                 '</soap:Envelope>')


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """The whole app with every door, over a real SQLite database; a key with every scope."""
    from gateway.appliance.runtime import open_store
    from gateway.config import DatabaseSettings, Settings, WebhookSettings

    folder = tmp_path_factory.mktemp("hostile")
    config = Settings(database=DatabaseSettings(url=f"sqlite:///{folder / 'smsgw.db'}"),
                      webhooks=WebhookSettings(allow=LOOPBACK))  # receivers on loopback only
    store = open_store(config)
    service = GatewayService(store, config.messaging, webhook_settings=config.webhooks)
    app = create_app(config, service, gateway_doors())
    _, token = service.keys.create_key("fuzz", ["send", "read", "admin"])
    service.messages.send("+447911123456", "a message to find")
    yield app, token
    store.close()


def fill(rule: str, values: list[str], sid: str) -> str:
    """`rule` with its `<…>` parts replaced by hostile values (the Twilio account sid kept, so auth passes)."""
    parts = iter(values)
    return re.sub(r"<[^>]+>", lambda m: sid if m.group(0) == "<sid>" else
                  (next(parts, "x").replace("/", "").replace("?", "").replace("#", "") or "x"), rule)


def authorisation(token: str, door: str) -> dict[str, str]:
    """The credentials each door takes (the point here is what comes after them)."""
    if door == "api":
        return {"Authorization": f"Bearer {token}"}
    user = sid_of_token(token) if door == "twilio" else "fuzz"
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def check(response, door: str, caplog) -> None:
    if door == "soap" and response.status_code == 500:
        assert b"soap:Client" in response.data, response.data[:300]
    else:
        assert response.status_code < 500 or response.status_code == 503, response.get_data(as_text=True)[:300]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors[0].getMessage()


# requests that succeed as they are, per door: (method, path, kind, valid fields); a hostile draw replaces some
# fields and adds others, so the hostile value reaches the code past the first check
NUMBER = "+447911123456"
RECEIVER = "http://127.0.0.1:9/h"  # a loopback receiver nothing listens on (no dispatcher runs here anyway)
BASES = {
    "api": [("POST", "/api/v1/messages", "json", {"to": NUMBER, "body": "hi"}),
            ("POST", "/api/v1/otp", "json", {"to": NUMBER}),
            ("POST", "/api/v1/templates", "json", {"name": "t1", "body": "Hi {name}"}),
            ("POST", "/api/v1/webhooks", "json", {"url": RECEIVER, "events": ["message.sent"]}),
            ("GET", "/api/v1/messages", "query", {"limit": "5"}),
            ("GET", "/api/v1/inbox", "query", {"limit": "5"}),
            ("GET", "/api/v1/audit", "query", {"limit": "5"}),
            ("GET", "/api/v1/optouts", "query", {}),
            ("GET", "/api/v1/conversations/<number>", "query", {}),
            ("POST", "/api/v1/optouts/<number>", "json", {}),
            ("POST", "/api/v1/batches", "raw", {})],
    "kannel": [("GET", "/cgi-bin/sendsms", "query", {"username": "fuzz", "password": "<token>", "to": NUMBER,
                                                      "text": "hi"}),
               ("POST", "/cgi-bin/sendsms", "form", {"username": "fuzz", "password": "<token>", "to": NUMBER,
                                                     "text": "hi"})],
    "twilio": [("POST", "/2010-04-01/Accounts/<sid>/Messages.json", "form", {"To": NUMBER, "Body": "hi"}),
               ("GET", "/2010-04-01/Accounts/<sid>/Messages.json", "query", {"PageSize": "5"}),
               ("GET", "/2010-04-01/Accounts/<sid>/Messages/<message_sid>.json", "query", {}),
               ("POST", "/2010-04-01/Accounts/<sid>/Messages/<message_sid>.json", "form", {"Body": ""})],
    "android": [("POST", "/message", "json", {"phoneNumbers": [NUMBER], "message": "hi"}),
                ("POST", "/messages", "json", {"phoneNumbers": [NUMBER], "textMessage": {"text": "hi"}}),
                ("GET", "/message/<message_id>", "query", {}),
                ("POST", "/webhooks", "json", {"url": RECEIVER, "event": "sms:received"})],
}


def request_strategy(door: str):
    return st.fixed_dictionaries({
        "base": st.integers(min_value=0, max_value=10_000),
        "path_values": st.lists(texts, min_size=2, max_size=2),
        "replace": st.dictionaries(st.sampled_from(FIELDS), texts, max_size=3),
        "replace_json": st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3),
        "raw": texts,
        # a JSON number Python's encoder cannot write, spliced into the body as text under one field
        "literal": st.one_of(st.none(), st.tuples(st.sampled_from(FIELDS), st.sampled_from(
            ["NaN", "-Infinity", "1e999", "9" * 5000, "[" * 5000 + "]" * 5000, '{"a":' * 2000 + "1" + "}" * 2000]))),
    })


def run_one(app, token, door: str, draw: dict, caplog) -> None:
    method, rule, kind, base = BASES[door][draw["base"] % len(BASES[door])]
    sid = sid_of_token(token)
    path = fill(rule, draw["path_values"], sid)
    fields = {k: (token if v == "<token>" else v) for k, v in base.items()}
    headers = authorisation(token, door)
    client = app.test_client()
    caplog.clear()
    if kind == "query":
        response = client.open(path, method=method, query_string={**fields, **draw["replace"]}, headers=headers)
    elif kind == "form":
        response = client.open(path, method=method, data={**fields, **draw["replace"]}, headers=headers)
    elif kind == "json":
        body = json.dumps({**fields, **draw["replace_json"]}, allow_nan=True)
        if draw["literal"] is not None:
            name, literal = draw["literal"]
            body = body[:-1] + (", " if body != "{}" else "") + f'"{name}": {literal}}}'
        response = client.open(path, method=method, data=body, headers={**headers, "Content-Type": "application/json"})
    else:
        csv_body = "to,name\n" + ",".join(draw["replace"].values()) + "\n" + draw["raw"]
        response = client.open(path, method=method, data=csv_body.encode("utf-8", "surrogatepass"),
                               headers={**headers, "Content-Type": "text/csv"})
    check(response, door, caplog)
    EXAMPLES_RUN[door] += 1


@pytest.mark.parametrize("door", ["api", "kannel", "twilio", "android"])
def test_hostile_requests_never_meet_a_server_error(box, door, caplog):
    app, token = box

    @HOSTILE
    @given(draw=request_strategy(door))
    def hostile(draw):
        run_one(app, token, door, draw, caplog)

    hostile()
    assert EXAMPLES_RUN[door] >= EXAMPLES // 2


def test_hostile_soap_operations_get_client_faults(box, caplog):
    app, token = box
    client = app.test_client()

    @HOSTILE
    @given(op=st.sampled_from(["SendSms", "GetMessageStatus", "ListInbox", "CancelMessage", "Nope"]),
           children=st.dictionaries(st.sampled_from(SOAP_ELEMENTS), texts, max_size=6))
    def hostile(op, children):
        xml = SOAP_ENVELOPE.format(op=op, children="".join(
            f"<tns:{name}>{escape(value)}</tns:{name}>" for name, value in children.items()))
        caplog.clear()
        response = client.post("/soap", data=xml.encode("utf-8", "surrogatepass"),
                               headers={**authorisation(token, "soap"), "Content-Type": "text/xml"})
        check(response, "soap", caplog)
        EXAMPLES_RUN["soap"] += 1

    hostile()
    assert EXAMPLES_RUN["soap"] >= EXAMPLES // 2
