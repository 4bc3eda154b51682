"""The box on a real MQTT broker (mosquitto, started here): a send command reaches a fake modem, received SMS
and state changes appear on their topics, modems are retained, Home Assistant discovery is well formed, and
hostile commands get an answer and change nothing."""

from __future__ import annotations

import json
import queue
import statistics
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import ConfigError, MqttSettings, Settings
from tests.api_client import Api
from tests.broker import Broker
from tests.conftest import wait_until


@pytest.fixture(scope="module")
def broker():
    broker = Broker()
    yield broker
    broker.stop()


class Listener:
    """A plain MQTT client subscribed to `topic` (wildcards allowed): what arrived, in order."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.arrived: queue.SimpleQueue[tuple[str, bytes, bool, float]] = queue.SimpleQueue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, m: self.arrived.put((m.topic, m.payload, m.retain, time.monotonic()))
        subscribed = queue.SimpleQueue()
        self.client.on_subscribe = lambda *_: subscribed.put(True)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        subscribed.get(timeout=5)

    def next(self, topic: str, timeout_s: float = 10.0) -> tuple[object, bool, float]:
        """The next message on `topic` (others are skipped): its JSON (or text), retained flag, arrival time."""
        deadline = time.monotonic() + timeout_s
        while True:
            got, payload, retain, at = self.arrived.get(timeout=max(0.01, deadline - time.monotonic()))
            if got == topic:
                try:
                    return json.loads(payload), retain, at
                except ValueError:
                    return payload.decode(), retain, at

    def publish(self, topic: str, payload: object) -> float:
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.client.publish(topic, body, qos=1).wait_for_publish(5)
        return time.monotonic()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mqtt_gateway(gateway_factory, settings: Settings, broker):
    listeners: list[Listener] = []

    def start(count=1, **mqtt_options):
        mqtt_settings = MqttSettings(url=broker.url, topic_prefix="test", **mqtt_options)
        gateway, fakes, token = gateway_factory(count, settings_override=settings.replace(mqtt=mqtt_settings))
        base = f"test/{gateway.store.db.box}"
        listener = Listener(broker, f"{base}/#")
        listeners.append(listener)
        wait_until(lambda: listener.next(f"{base}/status")[0] == "online")
        return gateway, fakes, token, listener, base

    yield start
    for listener in listeners:
        listener.close()


def test_a_send_command_reaches_the_modem_and_the_state_changes_follow(mqtt_gateway):
    gateway, [fake], token, listener, base = mqtt_gateway()
    latencies = []
    for i in range(5):
        published = listener.publish(f"{base}/send", {"key": token, "to": "+447911123456", "body": f"hello {i}",
                                                     "ref": f"r{i}"})
        result, _, _ = listener.next(f"{base}/send/result")
        assert result["ok"] and result["ref"] == f"r{i}" and result["messages"][0]["state"] == "queued"
        wait_until(lambda: len(fake.sent) == i + 1)
        latencies.append((fake.timed_commands[-1][0] - published) * 1000)
        event, _, _ = listener.next(f"{base}/messages")
        assert (event["event"], event["data"]["id"]) == ("message.sent", result["messages"][0]["id"])
    assert [s.text for s in fake.sent] == [f"hello {i}" for i in range(5)]
    print(f"MQTT command → modem: median {statistics.median(latencies):.1f} ms")


def test_a_received_sms_is_published_on_the_inbox_topic(mqtt_gateway):
    gateway, [fake], _, listener, base = mqtt_gateway()
    fake.inject_sms("+447911123456", "Running late, sorry")
    sms, retained, _ = listener.next(f"{base}/inbox")
    assert (sms["from"], sms["text"], sms["modem"], retained) == ("+447911123456", "Running late, sorry", "modem1",
                                                                  False)


def test_modems_are_retained_and_follow_their_state(mqtt_gateway, broker):
    gateway, [fake], _, listener, base = mqtt_gateway()
    modem = wait_until(lambda: (m := listener.next(f"{base}/modems/modem1")[0])["state"] == "online" and m)
    assert modem["name"] == "modem1" and modem["signal"]["dbm"] is not None
    late = Listener(broker, f"{base}/modems/+")  # a client that subscribes later gets the retained state
    try:
        assert late.next(f"{base}/modems/modem1")[1] is True
    finally:
        late.close()
    fake.set_registration(2)  # searching: the state changes and is published at once
    wait_until(lambda: listener.next(f"{base}/modems/modem1")[0]["state"] != "online", timeout_s=15)


def test_alerts_are_published_as_they_are_raised(mqtt_gateway):
    gateway, [fake], _, listener, base = mqtt_gateway()
    gateway.store.alerts.raise_alert("queue_age", "queue_age", "queue", "3 messages queued; the oldest has waited "
                                     "20 min", gateway.service.clock(), [])
    event, retained, _ = listener.next(f"{base}/alerts")
    assert (event["event"], event["data"]["key"], event["data"]["state"], retained) == (
        "alert.raised", "queue_age", "open", False)


def test_hostile_commands_get_an_error_and_send_nothing(mqtt_gateway):
    gateway, [fake], token, listener, base = mqtt_gateway()
    cases = [
        (b"\xff\xfenot json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        ({"to": "+447911123456", "body": "no key"}, "unauthorized"),
        ({"key": "wrong", "to": "+447911123456", "body": "x"}, "unauthorized"),
        ({"key": token, "to": "not a number", "body": "x"}, "invalid_number"),
        ({"key": token, "to": 447911123456, "body": "x"}, "invalid_request"),
        ({"key": token, "to": "+447911123456", "body": "x", "priority": 3}, "invalid_request"),
        (b"{" * 70000, "invalid_request"),
    ]
    for payload, code in cases:
        listener.publish(f"{base}/send", payload)
        result, _, _ = listener.next(f"{base}/send/result")
        assert not result["ok"] and result["error"]["code"] == code, (payload, result)
    listener.publish(f"{base}/send", {"key": token, "to": "+447911123456", "body": "still alive"})
    assert listener.next(f"{base}/send/result")[0]["ok"]
    wait_until(lambda: [s.text for s in fake.sent] == ["still alive"])


def test_home_assistant_finds_each_modem_and_the_notify_entity(mqtt_gateway, broker):
    gateway, [fake], _, listener, base = mqtt_gateway(notify_to=("+447911000999",))
    discovery = Listener(broker, "homeassistant/#")
    try:
        configs = {}
        deadline = time.monotonic() + 10
        while len(configs) < 8 and time.monotonic() < deadline:
            topic, payload, retain, _ = discovery.arrived.get(timeout=10)
            assert retain
            configs[topic] = json.loads(payload)
    finally:
        discovery.close()
    node = f"smsgw_{gateway.store.db.box}".replace(".", "_")
    assert len(configs) == 8  # six sensors and a problem sensor of modem1, and the notify entity
    for topic, config in configs.items():
        component, node_id, object_id, last = topic.split("/")[1:]
        assert (node_id, last) == (node, "config") and component in ("sensor", "binary_sensor", "notify")
        _check_discovery_schema(component, config)
        assert config["availability_topic"] == f"{base}/status"
    signal = configs[f"homeassistant/sensor/{node}/modem1_signal/config"]
    assert signal["state_topic"] == f"{base}/modems/modem1" and signal["unit_of_measurement"] == "dBm"
    notify = configs[f"homeassistant/notify/{node}/sms/config"]
    listener.publish(notify["command_topic"], "Front door opened")  # what HA's notify.send_message publishes
    wait_until(lambda: [(s.number, s.text) for s in fake.sent] == [("+447911000999", "Front door opened")])


def test_a_broker_away_at_start_is_waited_for_and_the_box_then_says_it_is_online(gateway_factory, settings):
    from tests.ports import free_port

    port = free_port()
    mqtt_settings = MqttSettings(url=f"mqtt://127.0.0.1:{port}", topic_prefix="late")
    gateway, [fake], token = gateway_factory(1, settings_override=settings.replace(mqtt=mqtt_settings))
    base = f"late/{gateway.store.db.box}"
    assert Api(gateway, token).send("+447911123456", "the box works without its broker")["state"] == "queued"
    wait_until(lambda: len(fake.sent) == 1)
    broker = Broker(port)
    try:
        listener = Listener(broker, f"{base}/#")
        try:
            assert wait_until(lambda: listener.next(f"{base}/status", timeout_s=15)[0] == "online")
            assert listener.next(f"{base}/modems/modem1")[0]["state"] == "online"
        finally:
            listener.close()
    finally:
        broker.stop()


# Home Assistant's documented discovery options (www.home-assistant.io/integrations/sensor.mqtt and notify.mqtt,
# "Configuration Variables"), with the type each takes; a key outside them is an error in HA's schema too.
_COMMON = {"name": str, "unique_id": str, "device": dict, "availability_topic": str, "qos": int, "icon": str,
           "object_id": str, "enabled_by_default": bool, "entity_category": str}
_SCHEMA = {
    "sensor": ({"state_topic"}, {**_COMMON, "state_topic": str, "value_template": str, "device_class": str,
                                  "unit_of_measurement": str, "state_class": str, "expire_after": int}),
    "notify": ({"command_topic"}, {**_COMMON, "command_topic": str, "command_template": str, "retain": bool}),
    "binary_sensor": ({"state_topic"}, {**_COMMON, "state_topic": str, "value_template": str, "device_class": str,
                                        "payload_on": str, "payload_off": str}),
}
_DEVICE = {"identifiers": list, "name": str, "manufacturer": str, "model": str, "sw_version": str, "via_device": str}
_STATE_CLASSES = {"measurement", "total", "total_increasing"}
_DEVICE_CLASSES = {"signal_strength", "problem"}


def _check_discovery_schema(component: str, config: dict) -> None:
    required, allowed = _SCHEMA[component]
    assert required <= set(config), config
    for key, value in config.items():
        assert key in allowed and isinstance(value, allowed[key]), (key, value)
    assert set(config["device"]) <= set(_DEVICE) and config["device"]["identifiers"]
    for key, value in config["device"].items():
        assert isinstance(value, _DEVICE[key]), (key, value)
    assert config.get("state_class", "measurement") in _STATE_CLASSES
    assert config.get("device_class", "signal_strength") in _DEVICE_CLASSES
    assert config["qos"] in (0, 1, 2)


@pytest.mark.parametrize("options, field", [
    ({"url": "http://127.0.0.1:1883"}, "mqtt.url"),
    ({"topic_prefix": "a/#"}, "mqtt.topic_prefix"),
    ({"topic_prefix": ""}, "mqtt.topic_prefix"),
    ({"discovery_prefix": "/ha"}, "mqtt.discovery_prefix"),
    ({"state_interval_s": 0}, "mqtt.state_interval_s"),
])
def test_a_wrong_mqtt_setting_is_named(options, field):
    with pytest.raises(ConfigError) as raised:
        MqttSettings(**options)
    assert raised.value.field == field
