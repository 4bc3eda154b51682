"""The OpenAPI document: it describes every /api/v1 route, its request schemas are the declarations the views
decode, /api/v1/docs renders it from the box, and schemathesis finds no 5xx and no response that breaks it."""

import re
import subprocess
import sys
from pathlib import Path

import msgspec
import requests

from web.api.messages import SendRequest
from web.api.openapi import document
from web.api.webhooks import WebhookRequest


def _shape(path: str) -> str:
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_every_api_route_and_method_is_documented(app):
    documented = {(_shape(path), method.upper()) for path, item in document(app)["paths"].items()
                  for method in item if method != "parameters"}
    served = {(_shape(rule.rule), method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served - documented == set(), "routes missing from the document"
    assert documented - served == set(), "documented routes that do not exist"


def test_request_schemas_are_the_fields_the_views_accept(app):
    components = document(app)["components"]["schemas"]
    fields = {f.encode_name: f for f in msgspec.structs.fields(SendRequest)}
    assert set(components["SendRequest"]["properties"]) == set(fields) >= {"to", "body", "template", "class"}
    assert set(components["SendRequest"]["required"]) == {n for n, f in fields.items() if f.required} == {"to"}
    assert components["SendRequest"]["additionalProperties"] is False
    assert set(components["WebhookRequest"]["properties"]) == {f.encode_name for f in
                                                               msgspec.structs.fields(WebhookRequest)}


def test_the_inbox_schema_names_every_field_of_the_inbox_resource(app):
    from gateway.representations import inbox_json
    from gateway.store.models import InboxMessage
    from gateway.values import InboxState

    item = InboxMessage(uid="in_1", sender="+447911123456", recipient=None, text="hi", modem="m1", part_count=1,
                        state=InboxState.COMPLETE, sent_at=None, received_at=None, in_reply_to=None)
    assert set(document(app)["components"]["schemas"]["InboxMessage"]["properties"]) == set(inbox_json(item))


def test_the_message_and_modem_schemas_name_every_field_of_their_resources(app):
    from gateway.representations import message_json, modem_json
    from gateway.store.models import Message, Modem
    from gateway.values import MessageState, ModemState

    message = Message(uid="msg_1", to_number="+447911123456", body="hi", encoding="gsm7", part_count=1,
                      state=MessageState.QUEUED, priority=1, delivery_report=False, attempts=0)
    modem = Modem(name="m1", port="/dev/null", state=ModemState.ONLINE)
    schemas = document(app)["components"]["schemas"]
    assert set(schemas["Message"]["properties"]) == set(message_json(message))
    assert set(schemas["Message"]["required"]) == set(message_json(message, with_history=False))
    assert set(schemas["Modem"]["properties"]) == set(modem_json(modem)) == set(schemas["Modem"]["required"])


def test_the_docs_page_is_served_by_the_box_and_reads_the_document(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must load nothing from outside"
    for asset in re.findall(r'(?:src|href)="([^"]+)"', html):  # Swagger UI's files, and its start
        path = asset if asset.startswith("/") else "/api/v1/" + asset
        answer = client.get(path)
        assert answer.status_code == 200 and answer.content_length != 0, path
        answer.close()
    assert 'url: "openapi.json"' in client.get("/static/api-docs.js").get_data(as_text=True)
    assert client.get("/api/v1/openapi.json").json["paths"].keys() == document(client.application)["paths"].keys()


def test_schemathesis_finds_no_server_error_and_no_response_outside_the_document(gateway_factory, tmp_path):
    gateway, _, _ = gateway_factory(0)
    _, token = gateway.service.keys.create_key("fuzz", ["send", "read"])  # admin routes answer 403: no webhooks
    base = f"http://127.0.0.1:{gateway.port}"
    assert requests.get(base + "/api/v1/openapi.json", timeout=10).status_code == 200
    run = subprocess.run(
        [str(Path(sys.executable).with_name("schemathesis")), "run", base + "/api/v1/openapi.json", "--url", base,
         "-H", f"Authorization: Bearer {token}", "--checks",
         "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
         "--max-examples", "15", "--phases", "examples,coverage,fuzzing", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
