"""The /api/v1 blueprint over the real service and a real SQLite store (no modems needed here)."""

import json

import pytest

SEND = "/api/v1/messages"


def post(client, auth, payload, **kwargs):
    data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return client.post(SEND, data=data, headers={**auth, "Content-Type": "application/json"}, **kwargs)


def count_messages(service):
    return sum(service.store.outbox.count_by_state().values())


def test_send_one_answers_202_with_id_state_encoding_and_parts(client, auth):
    response = post(client, auth, {"to": "+447911123456", "body": "Your code is 123456"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["id"].startswith("msg_") and body["state"] == "queued"
    assert (body["encoding"], body["part_count"], body["to"]) == ("gsm7", 1, "+447911123456")
    assert response.headers["Location"] == f"/api/v1/messages/{body['id']}"
    fetched = client.get(response.headers["Location"], headers=auth).get_json()
    assert fetched["state"] == "queued" and fetched["history"][0]["state"] == "queued"
    assert body["body_purged"] is False and fetched["body_purged"] is False


def test_several_recipients_give_one_message_each(client, auth):
    response = post(client, auth, {"to": ["+447911123456", "+12025550143", "07911 123457"], "body": "hi"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["count"] == 3
    assert [m["to"] for m in body["messages"]] == ["+447911123456", "+12025550143", "+447911123457"]
    assert len({m["id"] for m in body["messages"]}) == 3


@pytest.mark.parametrize("text, encoding, parts", [
    ("a" * 160, "gsm7", 1), ("a" * 161, "gsm7", 2), ("€" * 80, "gsm7", 1), ("€" * 81, "gsm7", 2),
    ("Γειά σου κόσμε", "ucs2", 1), ("ж" * 71, "ucs2", 2), ("😀" * 35, "ucs2", 1), ("😀" * 36, "ucs2", 2),
])
def test_long_text_is_split_and_the_response_says_how(client, auth, text, encoding, parts):
    body = post(client, auth, {"to": "+447911123456", "body": text}).get_json()
    assert (body["encoding"], body["part_count"]) == (encoding, parts)


def test_body_over_max_parts_is_refused(client, auth, service):
    response = post(client, auth, {"to": "+447911123456", "body": "x" * (153 * 10 + 1)})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "message_too_long"
    assert count_messages(service) == 0


@pytest.mark.parametrize("headers, status, code", [
    ({}, 401, "unauthorized"),
    ({"Authorization": "Bearer smsgw_not-a-key"}, 401, "unauthorized"),
    ({"X-API-Key": "nope"}, 401, "unauthorized"),
])
def test_missing_or_unknown_keys_are_refused(client, headers, status, code, service):
    response = client.post(SEND, json={"to": "+447911123456", "body": "hi"}, headers=headers)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert count_messages(service) == 0


def test_revoked_key_and_missing_scope(client, service):
    key, token = service.keys.create_key("reader", ["read"])
    response = client.post(SEND, json={"to": "+447911123456", "body": "hi"}, headers={"X-API-Key": token})
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "forbidden")
    assert client.get("/api/v1/modems", headers={"X-API-Key": token}).status_code == 200
    service.keys.revoke_key(key.id)
    assert client.get("/api/v1/modems", headers={"X-API-Key": token}).status_code == 401
    assert count_messages(service) == 0


@pytest.mark.parametrize("payload, status, code, field", [
    (b"{not json", 400, "invalid_json", None),
    (b"", 400, "invalid_json", None),
    (b'["+447911123456", "hi"]', 400, "invalid_json", None),
    (b'{"to": "+447911123456", "body": "caf\xe9"}', 400, "invalid_json", None),
    (b'{"to": "+447911123456", "body": "\xed\xa0\xbd"}', 400, "invalid_json", None),  # a surrogate in UTF-8
    ({"to": "+447911123456"}, 400, "invalid_request", "body"),
    ({"body": "hi"}, 400, "invalid_request", "to"),
    ({"to": "+447911123456", "body": "hi", "colour": "red"}, 400, "invalid_request", "colour"),
    ({"to": 447911123456, "body": "hi"}, 400, "invalid_request", "to"),
    ({"to": "+447911123456", "body": 5}, 400, "invalid_request", "body"),
    ({"to": "+447911123456", "body": "hi", "delivery_report": "yes"}, 400, "invalid_request", "delivery_report"),
    ({"to": ["+447911123456", 7], "body": "hi"}, 400, "invalid_request", "to"),
    ({"to": "+447911123456", "body": ""}, 400, "invalid_request", "body"),
    ({"to": "+447911123456", "body": "   "}, 400, "invalid_request", "body"),
    ({"to": "hello", "body": "hi"}, 422, "invalid_number", "to"),
    ({"to": "+1", "body": "hi"}, 422, "invalid_number", "to"),
    ({"to": "+" + "1" * 40, "body": "hi"}, 422, "invalid_number", "to"),
    ({"to": "+447700900123", "body": "hi"}, 422, "invalid_number", "to"),
    ({"to": [], "body": "hi"}, 400, "invalid_request", "to"),
    ({"to": ["+447911123456", "nope"], "body": "hi"}, 422, "invalid_number", "to"),
    ({"to": [f"+4479111234{i:02d}" for i in range(6)], "body": "hi"}, 422, "too_many_recipients", "to"),
    (b'{"to": "+447911123456", "body": "\\ud83d"}', 400, "invalid_request", "body"),
])
def test_bad_input_gets_a_clear_error_and_writes_nothing(client, auth, service, payload, status, code, field):
    response = post(client, auth, payload)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]
    assert count_messages(service) == 0


def test_body_over_one_mebibyte_is_413(client, auth, service):
    payload = json.dumps({"to": "+447911123456", "body": "x" * (1024 * 1024)})
    response = post(client, auth, payload)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert count_messages(service) == 0


def test_unknown_message_and_route_are_json_404(client, auth):
    response = client.get("/api/v1/messages/msg_nope", headers=auth)
    assert (response.status_code, response.get_json()["error"]["code"]) == (404, "message_not_found")
    response = client.get("/api/v1/nothing", headers=auth)
    assert (response.status_code, response.get_json()["error"]["code"]) == (404, "not_found")
    assert client.put(SEND, headers=auth).status_code == 405


def test_list_filter_and_page(client, auth):
    for i in range(5):
        post(client, auth, {"to": f"+4479111234{i:02d}", "body": f"m{i}"})
    page = client.get("/api/v1/messages?limit=2", headers=auth).get_json()
    assert [m["body"] for m in page["messages"]] == ["m4", "m3"]
    rest = client.get(f"/api/v1/messages?limit=10&cursor={page['next_cursor']}", headers=auth).get_json()
    assert [m["body"] for m in rest["messages"]] == ["m2", "m1", "m0"] and rest["next_cursor"] is None
    only = client.get("/api/v1/messages?to=%2B447911123401", headers=auth).get_json()
    assert [m["body"] for m in only["messages"]] == ["m1"]
    assert client.get("/api/v1/messages?status=bogus", headers=auth).status_code == 400
    assert client.get("/api/v1/messages?status=queued", headers=auth).get_json()["messages"]


def test_cancel_a_queued_message(client, auth):
    uid = post(client, auth, {"to": "+447911123456", "body": "hi"}).get_json()["id"]
    assert client.delete(f"{SEND}/{uid}", headers=auth).get_json()["state"] == "cancelled"
    response = client.delete(f"{SEND}/{uid}", headers=auth)
    assert (response.status_code, response.get_json()["error"]["code"]) == (409, "conflict")


def test_openapi_document_lists_the_paths(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/messages", "/api/v1/messages/{id}", "/api/v1/inbox", "/api/v1/modems"} <= set(
        document["paths"])


def test_a_full_disk_is_a_503_with_a_clear_code_and_the_gateway_recovers(client, auth, store, service):
    from sqlalchemy import event

    cap = {"pages": None}

    def limit_pages(dbapi_conn, _record):
        if cap["pages"]:
            dbapi_conn.execute(f"PRAGMA max_page_count={cap['pages']}")

    event.listen(store.engine, "connect", limit_pages)
    with store.engine.connect() as conn:
        cap["pages"] = conn.exec_driver_sql("PRAGMA page_count").scalar() + 3
    store.engine.dispose()  # new connections see a disk with three pages left
    answers = [post(client, auth, {"to": "+447911123456", "body": "x" * 1500}) for _ in range(40)]
    full = [a for a in answers if a.status_code != 202]
    assert full and {a.status_code for a in full} == {503}
    assert full[0].get_json()["error"]["code"] == "storage_full"
    accepted = sum(a.status_code == 202 for a in answers)
    assert count_messages(service) == accepted  # a refused request wrote nothing
    cap["pages"] = None
    store.engine.dispose()  # space is back
    assert post(client, auth, {"to": "+447911123456", "body": "after"}).status_code == 202


@pytest.mark.parametrize("remote, allowed", [
    ("127.0.0.1", True), ("192.168.1.20", True), ("10.1.2.3", True), ("::1", True), ("::ffff:192.168.1.5", True),
    ("8.8.8.8", False), ("2001:db8::1", False), ("172.32.0.1", False),
])
def test_only_allowed_networks_reach_the_api_and_the_page(client, auth, remote, allowed, service):
    environ = {"REMOTE_ADDR": remote}
    response = client.post(SEND, json={"to": "+447911123456", "body": "hi"}, headers=auth, environ_base=environ)
    page = client.get("/", environ_base=environ)
    if allowed:
        assert response.status_code == 202 and page.status_code in (200, 302)
    else:
        assert (response.status_code, response.get_json()["error"]["code"]) == (403, "address_not_allowed")
        assert page.status_code == 403 and count_messages(service) == 0


def test_allow_from_is_checked_at_start():
    from gateway.config import settings_from_mapping
    from gateway.errors import ConfigError

    assert settings_from_mapping({"server": {"allow_from": ["10.9.0.0/16"]}}, {}).server.allow_from == ("10.9.0.0/16",)
    with pytest.raises(ConfigError):
        settings_from_mapping({"server": {"allow_from": ["not-a-net"]}}, {})


@pytest.mark.parametrize("body, position", [("nul\x00here", 3), ("\x1b[31mred", 0), ("bell\x07", 4), ("del\x7f", 3)])
def test_control_characters_in_a_body_are_refused_naming_the_first(client, auth, service, body, position):
    response = post(client, auth, {"to": "+447911123456", "body": body})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_body", "body")
    assert f"position {position}" in error["message"]
    assert count_messages(service) == 0
    assert post(client, auth, {"to": "+447911123456", "body": "tab\tline\nreturn\r"}).status_code == 202


@pytest.mark.parametrize("raw", ['"validity": NaN', '"validity": Infinity', '"validity": 1e308',
                                 '"validity": 99999999999999999999999', '"validity": "P99999999999999999999D"',
                                 '"to": ' + "9" * 5000, '"to": ' + "[" * 5000 + "]" * 5000])
def test_extreme_numbers_and_nesting_are_refused_not_crashed_on(client, auth, service, raw):
    response = client.post("/api/v1/messages", data='{"to": "+447911123456", "body": "x", ' + raw + "}",
                           headers={**auth, "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert count_messages(service) == 0


@pytest.mark.parametrize("cursor", ["9" * 5000, "1" * 19, "١٢٣", "-1", "1e3"])
def test_odd_cursors_are_refused(client, auth, cursor):
    for path in ("/api/v1/messages", "/api/v1/inbox", "/api/v1/audit"):
        response = client.get(path, query_string={"cursor": cursor}, headers=auth)
        assert response.status_code == 400 and response.get_json()["error"]["field"] == "cursor", (path, cursor)
