"""A door plugs in through `gateway.doors` alone: a door declared here, that the core has never heard of, gets
its config section, its routes, its callbacks and its receiver's replies; and the one encoding of callback
targets reads back what it writes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Blueprint

from gateway.appliance.doors import gateway_doors
from gateway.config import WebhookSettings, settings_from_mapping
from gateway.core.webhooks import WebhookDispatcher
from gateway.doors import Callback, CallbackRequest, CallbackTarget, Door, Doors
from gateway.errors import ConfigError
from gateway.values import ReceivedSms
from tests.clock import NOON, Clock
from tests.conftest import wait_until
from tests.receiver import LOOPBACK
from web import create_app


@dataclass(frozen=True)
class EchoSettings:
    inbound_url: str = ""


echo_routes = Blueprint("echo", __name__)


@echo_routes.get("/echo/ping")
def ping():
    return "pong"


def echo_render(callback: Callback) -> CallbackRequest | None:
    if callback.event_type != "message.received":
        return None
    return CallbackRequest("POST", callback.target.url, f"{callback.target.arg}:{callback.data['text']}".encode(),
                           {"Content-Type": "text/plain"})


def echo_replies(content_type: str, body: bytes) -> list[str]:
    return [body.decode()] if body else []


def echo_receivers(settings: EchoSettings) -> list[CallbackTarget]:
    return [CallbackTarget("echo", "cfg", settings.inbound_url)] if settings.inbound_url else []


ECHO = Door("echo", routes=lambda: echo_routes, settings=EchoSettings, render=echo_render, replies=echo_replies,
            receivers=echo_receivers)


@pytest.mark.parametrize("stored, door, arg, url", [
    ("kannel-get+http://app.lan/sms?from=%p", "kannel", "get", "http://app.lan/sms?from=%p"),
    ("kannel-31+http://app.lan/dlr?d=%d", "kannel", "31", "http://app.lan/dlr?d=%d"),
    ("twilio-AC0123+https://crm.lan/s", "twilio", "AC0123", "https://crm.lan/s"),
    ("echo+http://127.0.0.1:9/", "echo", "", "http://127.0.0.1:9/"),
    ("http://app.lan/hook?a=b+c", None, "", "http://app.lan/hook?a=b+c"),
    ("https://user:p+w@app.lan/", None, "", "https://user:p+w@app.lan/"),
])
def test_callback_targets_read_back_what_they_write(stored, door, arg, url):
    target = CallbackTarget.parse(stored)
    assert (target.door, target.arg, target.url) == (door, arg, url)
    assert str(target) == stored


def test_a_callback_target_refuses_a_bad_format():
    for door, arg in [("Kannel", ""), ("twilio", "AC-1"), (None, "x")]:
        with pytest.raises(ValueError):
            CallbackTarget(door, arg, "http://app.lan/")


def test_a_door_with_config_receivers_declares_its_section():
    with pytest.raises(ValueError, match="config section"):
        Door("echo", receivers=echo_receivers)


def test_a_doors_section_is_known_through_the_registry_and_checked_like_the_gateways_own():
    doors = Doors(ECHO)
    settings = settings_from_mapping({"echo": {"inbound_url": "http://127.0.0.1:9/in"}}, {}, doors)
    assert settings.doors["echo"] == EchoSettings("http://127.0.0.1:9/in")
    assert settings_from_mapping({}, {}, doors).doors["echo"] == EchoSettings()
    with pytest.raises(ConfigError, match=r"unknown section \[echo\]"):
        settings_from_mapping({"echo": {}}, {})
    with pytest.raises(ConfigError) as unknown_key:
        settings_from_mapping({"echo": {"inbound_uri": "x"}}, {}, doors)
    assert unknown_key.value.field == "echo.inbound_uri"
    with pytest.raises(ConfigError) as kannel_key:
        settings_from_mapping({"kannel": {"get_ur": "x"}}, {}, gateway_doors())
    assert kannel_key.value.field == "kannel.get_ur"


def test_a_door_serves_its_routes_in_the_app_it_is_given_to(settings, service):
    assert create_app(settings, service, Doors(ECHO)).test_client().get("/echo/ping").data == b"pong"
    assert create_app(settings, service).test_client().get("/echo/ping").status_code == 404


def test_the_webhook_worker_delivers_in_the_doors_shape_and_sends_its_replies(store, service, settings,
                                                                               raw_receiver):
    doors = Doors(ECHO)
    config = settings.replace(doors={"echo": EchoSettings(inbound_url=raw_receiver.base + "/in")})
    service.receivers.sync_config_receivers(doors.receivers(config), doors.receiver_doors)
    [webhook] = service.receivers.list_webhooks()
    assert webhook.url == f"echo-cfg+{raw_receiver.base}/in"
    raw_receiver.answers.append((200, "text/plain", b"thanks"))
    replies = []
    worker = WebhookDispatcher(store, WebhookSettings(timeout_s=2, allow=LOOPBACK), Clock(NOON), doors=doors)
    worker.on_reply = lambda received, text: replies.append((received["id"], text))
    worker.start()
    try:
        sms = ReceivedSms("SM", 1, "+447911123456", "hello", NOON, None, "01")
        inbound = store.inbox.record_received("m1", sms, NOON)
        worker.wake()
        [call] = raw_receiver.wait_for(1)
        assert (call["method"], call["path"], call["body"]) == ("POST", "/in", b"cfg:hello")
        assert call["headers"]["Content-Type"] == "text/plain" and call["headers"]["User-Agent"] == "smsgw-webhooks/1"
        wait_until(lambda: replies)
        assert replies == [(inbound.uid, "thanks")]
    finally:
        worker.stop()
    service.receivers.sync_config_receivers([], doors.receiver_doors)  # the config no longer names it
    assert service.receivers.list_webhooks() == []
