"""Message templates: the pure placeholder rules, the /api/v1/templates routes, and sending with a template
(through the API over the real service and store, and once end to end to a fake modem)."""

import json

import pytest

from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from gateway.errors import TemplateParamsError, ValidationError
from gateway.rules.templates import placeholders, render
from tests.api_client import Api

TEMPLATES = "/api/v1/templates"


def test_placeholders_are_named_in_order_of_first_use_and_double_braces_are_literal():
    assert placeholders("Hi {name}, your code is {code}. {name}!") == ["name", "code"]
    assert placeholders("Set {{literal}} braces, {code}") == ["code"]
    assert render("{{x}} {code}", {"code": 42}) == "{x} 42"


@pytest.mark.parametrize("body", ["{", "}", "{0}", "{}", "{a.b}", "{a[0]}", "{a!r}", "{a:>5}"])
def test_positional_attribute_and_formatted_fields_and_bad_braces_are_refused(body):
    with pytest.raises(ValidationError) as caught:
        placeholders(body)
    assert caught.value.field == "body"


@pytest.mark.parametrize("params, field", [({}, "params.code"), ({"code": "1", "extra": "2"}, "params.extra"),
                                           ({"code": ["1"]}, "params.code"), ({"code": True}, "params.code")])
def test_a_missing_extra_or_odd_parameter_is_named(params, field):
    with pytest.raises(TemplateParamsError) as caught:
        render("Your code is {code}", params)
    assert caught.value.field == field and caught.value.http_status == 422


def post(client, auth, url, payload):
    return client.post(url, data=json.dumps(payload), headers={**auth, "Content-Type": "application/json"})


def put(client, auth, url, payload):
    return client.put(url, data=json.dumps(payload), headers={**auth, "Content-Type": "application/json"})


def test_templates_are_created_listed_changed_and_deleted(client, auth):
    created = post(client, auth, TEMPLATES, {"name": "otp", "body": "Your code is {code}"})
    assert created.status_code == 201 and created.headers["Location"] == f"{TEMPLATES}/otp"
    assert created.json["placeholders"] == ["code"] and created.json["approved"] is False
    assert post(client, auth, TEMPLATES, {"name": "otp", "body": "again"}).json["error"]["code"] == "template_exists"
    changed = put(client, auth, f"{TEMPLATES}/otp", {"body": "Hi {name}, code {code}", "approved": True})
    assert changed.status_code == 200 and changed.json["placeholders"] == ["name", "code"] and changed.json["approved"]
    assert [t["name"] for t in client.get(TEMPLATES, headers=auth).json["templates"]] == ["otp"]
    assert client.delete(f"{TEMPLATES}/otp", headers=auth).status_code == 204
    missing = client.get(f"{TEMPLATES}/otp", headers=auth)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "template_not_found"


def test_changing_templates_needs_admin_and_reading_needs_read(client, service):
    _, reader = service.keys.create_key("reader", ["read"])
    headers = {"Authorization": f"Bearer {reader}"}
    assert post(client, headers, TEMPLATES, {"name": "x", "body": "y"}).status_code == 403
    assert client.get(TEMPLATES, headers=headers).status_code == 200
    _, sender = service.keys.create_key("sender", ["send"])
    assert client.get(TEMPLATES, headers={"Authorization": f"Bearer {sender}"}).status_code == 403


def test_a_template_with_bad_placeholders_is_refused_with_its_field(client, auth):
    refused = post(client, auth, TEMPLATES, {"name": "bad", "body": "Your code is {0}"})
    assert refused.status_code == 400 and refused.json["error"]["field"] == "body"
    assert post(client, auth, TEMPLATES, {"name": "no spaces", "body": "x"}).json["error"]["field"] == "name"


def test_sending_with_a_template_fills_it_and_params_are_checked(client, auth, service):
    post(client, auth, TEMPLATES, {"name": "otp", "body": "Hi {name}, your code is {code}"})
    sent = post(client, auth, "/api/v1/messages",
                {"to": "+447911123456", "template": "otp", "params": {"name": "Ann", "code": 123456}})
    assert sent.status_code == 202 and sent.json["body"] == "Hi Ann, your code is 123456"
    missing = post(client, auth, "/api/v1/messages", {"to": "+447911123456", "template": "otp",
                                                      "params": {"name": "Ann"}})
    assert missing.status_code == 422 and missing.json["error"]["field"] == "params.code"
    extra = post(client, auth, "/api/v1/messages", {"to": "+447911123456", "template": "otp",
                                                    "params": {"name": "Ann", "code": 1, "pin": 2}})
    assert extra.status_code == 422 and extra.json["error"]["field"] == "params.pin"
    unknown = post(client, auth, "/api/v1/messages", {"to": "+447911123456", "template": "nope"})
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "unknown_template"
    both = post(client, auth, "/api/v1/messages", {"to": "+447911123456", "template": "otp", "body": "x"})
    assert both.status_code == 400 and both.json["error"]["field"] == "template"
    neither = post(client, auth, "/api/v1/messages", {"to": "+447911123456"})
    assert neither.status_code == 400 and neither.json["error"]["field"] == "body"
    assert sum(service.store.outbox.count_by_state().values()) == 1


def test_only_approved_templates_send_when_approval_is_required(store):
    service = GatewayService(store, MessagingSettings(require_approved_templates=True))
    service.templates.add_template("promo", "Sale on {day}")
    with pytest.raises(ValidationError) as caught:
        service.templates.message_text(None, "promo", {"day": "Monday"})
    assert caught.value.code == "template_not_approved"
    service.templates.update_template("promo", is_approved=True)
    assert service.templates.message_text(None, "promo", {"day": "Monday"}) == "Sale on Monday"


def test_a_template_message_reaches_the_modem_filled(gateway_factory):
    gateway, fakes, token = gateway_factory(1)
    api = Api(gateway, token)
    assert api.session.post(f"{api.base}/templates", json={"name": "greet", "body": "Hello {name} {{ok}}"},
                            timeout=10).status_code == 201
    created = api.session.post(f"{api.base}/messages", json={"to": "+447911123456", "template": "greet",
                                                             "params": {"name": "Zoë"}}, timeout=10).json()
    api.wait_state(created["id"], "sent")
    assert [(s.number, s.text) for s in fakes[0].sent] == [("+447911123456", "Hello Zoë {ok}")]
