"""The box on an MQTT broker (`[mqtt]`, off while its url is empty): what happens here is published, sends are
taken from a topic, and Home Assistant finds the box's modems by MQTT discovery.

Topics (`<prefix>/<box>/…`):
- `status` (retained): `online`, or `offline` (the broker says it for us when the box vanishes: its will).
- `inbox`: each SMS this box's modems receive, as `GET /api/v1/inbox` shows one (a late part completing one
  is published again).
- `messages`: each state change (`message.sent`, `.delivered`, `.failed`, `.expired`) recorded on this box,
  `{"event": …, "data": <the message as the API shows it>}`.
- `alerts`: each alert raised or resolved (gateway/core/alerts.py), `{"event": "alert.raised", "data": …}`.
- `modems/<name>` (retained): each of this box's modems as `GET /api/v1/modems` shows it, on each change of
  state and every `state_interval_s`.
- `send` (subscribed): `{"key": "<API key with the send scope>", "to": …, "body": …}`, and optionally
  `delivery_report`, `priority`, `via`, `ref`; the answer (`{"ok": true, "messages": […]}` or
  `{"ok": false, "error": {…}}`, with `ref` echoed) on `send/result`. The API's validation applies.
- `notify` (subscribed, when `notify_to` is set): a text sent to the `notify_to` numbers: Home Assistant's
  notify entity. It carries no key: restrict who may publish there with the broker's ACL.

Publishing is QoS 1 and never blocks a caller: paho queues while the broker is away and its own thread (started
and stopped here) sends. What happens while this box is not connected is published when it reconnects, if the
process still runs; the database, not the broker, is the record.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.config import MqttSettings
from gateway.core.service import GatewayService
from gateway.errors import GatewayError, InvalidJson, ValidationError
from gateway.representations import message_json, modem_json
from gateway.values import ModemState
from gateway.version import VERSION

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 64 * 1024  # a send command larger than this is refused unread
STOP_PUBLISH_S = 2.0  # how long a stop waits for its `offline` to reach the broker
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")
MESSAGE_EVENTS = ("message.sent", "message.delivered", "message.failed", "message.expired")
INBOX_EVENTS = ("message.received", "message.updated")
ALERT_EVENTS = ("alert.raised", "alert.resolved")
MQTT_EVENTS = INBOX_EVENTS + MESSAGE_EVENTS + ALERT_EVENTS  # what the bridge publishes


def _object_id(*names: str) -> str:
    """An id Home Assistant accepts in a discovery topic and as a unique_id."""
    return _NOT_ID.sub("_", "_".join(names))


class MqttBridge:
    """Owns one paho client and its network thread (`start`, `stop`)."""

    def __init__(self, settings: MqttSettings, box: str, service: GatewayService) -> None:
        self._settings, self._box, self._service = settings, box, service
        self.base = f"{settings.topic_prefix}/{box}"
        self._published_state: dict[str, ModemState] = {}
        url = urlsplit(settings.url)
        self._host, self._tls = url.hostname or "127.0.0.1", url.scheme == "mqtts"
        self._port = url.port or (8883 if self._tls else 1883)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=_object_id("smsgw", box),
                                   protocol=mqtt.MQTTv311)
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password or None)
        if self._tls:
            self._client.tls_set()
        self._client.will_set(f"{self.base}/status", "offline", qos=1, retain=True)
        self._client.reconnect_delay_set(1, 60)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._unreachable_logged = False  # one warning per outage, not one per retry
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background (a broker that is away is retried, with a warning, never fatal)."""
        self._client.connect_async(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def stop(self) -> None:
        if self._client.is_connected():
            info = self._client.publish(f"{self.base}/status", "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(STOP_PUBLISH_S)
            except RuntimeError:  # the connection went meanwhile: the broker's will says it instead
                pass
        self._client.disconnect()
        self._client.loop_stop()

    # --- what the box publishes ---------------------------------------------------------------------------------

    def on_event(self, event_type: str, data: dict[str, Any]) -> None:
        """An event of MQTT_EVENTS recorded on this box (`Events.observe`: called after its commit)."""
        if event_type in INBOX_EVENTS:
            self._publish("inbox", data)
        elif event_type in MESSAGE_EVENTS:
            self._publish("messages", {"event": event_type, "data": data})
        elif event_type in ALERT_EVENTS:
            self._publish("alerts", {"event": event_type, "data": data})

    def on_modem_state(self, name: str, state: ModemState) -> None:
        """A modem of this box changed state (gateway.core.pool listeners; SENDING is the LEDs' only)."""
        if state != ModemState.SENDING and self._published_state.get(name) != state:
            self.publish_modems(only=name)

    def publish_modems(self, only: str | None = None) -> None:
        """Each of this box's modems (or `only` that one) on its retained topic."""
        for modem in self._service.modems.list_modems():
            if modem.box == self._box and only in (None, modem.name):
                self._published_state[modem.name] = modem.state
                self._publish(f"modems/{modem.name}", modem_json(modem), retain=True)

    def _publish(self, topic: str, payload: dict[str, Any] | str, *, retain: bool = False) -> None:
        body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        result = self._client.publish(f"{self.base}/{topic}", body, qos=1, retain=retain)
        if result.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: queued for the reconnect
            log.warning("mqtt: %s/%s not published: %s", self.base, topic, mqtt.error_string(result.rc))

    # --- the connection ------------------------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt: broker %s:%d refused the connection: %s", self._host, self._port, reason)
            return
        log.info("mqtt: connected to %s:%d as box %s", self._host, self._port, self._box)
        self._unreachable_logged = False
        client.subscribe([(f"{self.base}/send", 1)] + ([(f"{self.base}/notify", 1)] if self._settings.notify_to
                                                        else []))
        self._publish("status", "online", retain=True)
        for topic, config in self.discovery().items():
            client.publish(topic, json.dumps(config, separators=(",", ":")), qos=1, retain=True)
        self._run(self.publish_modems, "publishing the modems")

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        if not self._unreachable_logged:
            self._unreachable_logged = True
            log.warning("mqtt: broker %s:%d does not answer; retrying in the background", self._host, self._port)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt: lost the broker %s:%d (%s); reconnecting", self._host, self._port, reason)

    # --- commands ------------------------------------------------------------------------------------------------

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == f"{self.base}/send":
            self._run(lambda: self._send(message.payload), "a send command")
        elif message.topic == f"{self.base}/notify":
            self._run(lambda: self._notify(message.payload), "a notification")

    def _run(self, action: Callable[[], None], what: str) -> None:
        """Run `action` on paho's thread, which must survive it (a database away, a bug)."""
        try:
            action()
        except Exception:  # noqa: BLE001 - the network thread owns the connection: it must go on
            log.exception("mqtt: %s failed", what)

    def _send(self, payload: bytes | bytearray) -> None:
        ref = None
        try:
            request = _command(payload)
            ref = request.get("ref")
            key = self._service.keys.authenticate(request.get("key"), "send")
            to, body = request.get("to"), request.get("body")
            if not isinstance(body, str) or not (isinstance(to, str) or isinstance(to, list) and all(
                    isinstance(t, str) for t in to)):
                raise ValidationError("a send command needs `to` (a number or a list of numbers) and `body` (text)",
                                      field="to" if isinstance(body, str) else "body")
            messages = self._service.messages.send(
                to, body, api_key=key, delivery_report=_optional(request, "delivery_report", bool),
                via=_optional(request, "via", str), priority=_optional(request, "priority", str))
        except GatewayError as exc:
            self._publish("send/result", {"ok": False, "ref": ref, "error": {
                "code": exc.code, "message": exc.message, "field": exc.field}})
            return
        self._publish("send/result", {"ok": True, "ref": ref,
                                      "messages": [message_json(m, with_history=False) for m in messages]})

    def _notify(self, payload: bytes | bytearray) -> None:
        text = payload.decode("utf-8", errors="replace").strip()
        if not text:
            log.warning("mqtt: an empty notification was not sent")
            return
        try:
            self._service.messages.send(list(self._settings.notify_to), text)
        except GatewayError as exc:
            log.warning("mqtt: notification not sent: %s", exc.message)

    # --- Home Assistant ------------------------------------------------------------------------------------------

    def discovery(self) -> dict[str, dict[str, Any]]:
        """Home Assistant MQTT discovery: each config topic of this box's entities and its config (retained)."""
        prefix = self._settings.discovery_prefix
        if not prefix:
            return {}
        node = _object_id("smsgw", self._box)
        box_device = {"identifiers": [node], "name": f"SMS gateway {self._box}", "manufacturer": "smsgw",
                      "model": "SMS gateway", "sw_version": VERSION}
        common = {"availability_topic": f"{self.base}/status", "qos": 1}
        configs: dict[str, dict[str, Any]] = {}
        for modem in self._service.modems.list_modems():
            if modem.box != self._box:
                continue
            device = {"identifiers": [_object_id(node, modem.name)], "name": f"Modem {modem.name}",
                      "manufacturer": modem.manufacturer or "unknown", "model": modem.model or "GSM modem",
                      "via_device": node}
            topic = f"{self.base}/modems/{modem.name}"
            for key, name, template, extra in (
                    ("state", "State", "{{ value_json.state }}", {"icon": "mdi:sim"}),
                    ("signal", "Signal", "{{ value_json.signal.dbm }}",
                     {"device_class": "signal_strength", "unit_of_measurement": "dBm", "state_class": "measurement"}),
                    ("operator", "Operator", "{{ value_json.operator }}", {"icon": "mdi:radio-tower"}),
                    ("balance", "Credit", "{{ value_json.balance }}", {"icon": "mdi:cash"}),
                    ("sent", "Sent", "{{ value_json.counters.sent }}",
                     {"state_class": "total_increasing", "icon": "mdi:message-arrow-right"}),
                    ("received", "Received", "{{ value_json.counters.received }}",
                     {"state_class": "total_increasing", "icon": "mdi:message-arrow-left"})):
                object_id = _object_id(node, modem.name, key)
                configs[f"{prefix}/sensor/{node}/{_object_id(modem.name, key)}/config"] = {
                    "name": name, "unique_id": object_id, "state_topic": topic, "value_template": template,
                    "device": device, **common, **extra}
            configs[f"{prefix}/binary_sensor/{node}/{_object_id(modem.name, 'silent')}/config"] = {
                "name": "Silent SIM", "unique_id": _object_id(node, modem.name, "silent"), "state_topic": topic,
                "value_template": "{{ 'ON' if value_json.degraded_since else 'OFF' }}", "device_class": "problem",
                "device": device, **common}  # on while its canary probe has not arrived (gateway/core/canary.py)
        if self._settings.notify_to:
            configs[f"{prefix}/notify/{node}/sms/config"] = {
                "name": "SMS", "unique_id": _object_id(node, "notify"), "command_topic": f"{self.base}/notify",
                "device": box_device, **common}
        return configs


def _command(payload: bytes | bytearray) -> dict[str, Any]:
    if len(payload) > MAX_COMMAND_BYTES:
        raise ValidationError(f"a command is at most {MAX_COMMAND_BYTES} bytes")
    try:
        request = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidJson(f"a command is a JSON object: {exc}") from exc
    if not isinstance(request, dict):
        raise InvalidJson("a command is a JSON object")
    return request


def _optional(request: dict[str, Any], name: str, kind: type) -> Any:
    value = request.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValidationError(f"{name} must be a {kind.__name__}", field=name)
    return value
