"""Where callbacks may connect (`[webhooks] allow`): refused at request time in every door, refused again at
connect time (after DNS), and one receiver that never answers cannot hold up the others.

Every address used here is a loopback spelling; the listeners bind on loopback and count the connections they
accept, so a refusal is shown by nothing arriving."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from urllib.parse import quote

import pytest
import requests

from gateway.clock import utcnow
from gateway.config import WebhookSettings
from gateway.core.outbound import CallbackDestinations
from gateway.core.webhooks import WebhookDispatcher
from gateway.rules.destinations import DestinationPolicy, parse_networks, redacted_url, without_queries
from gateway.values import DeliveryState, ReceivedSms
from tests.conftest import wait_until
from tests.receiver import LOOPBACK, Receiver
from web.compat.twilio.accounts import sid_of_token

DEFAULT = WebhookSettings().allow


class Listener:
    """Loopback sockets on one port (127.0.0.1 and, where the machine has it, ::1) that accept connections,
    count them and never answer."""

    def __init__(self) -> None:
        self.accepted = 0
        self._sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self._sockets[0].getsockname()[1]
        try:
            self._sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        except OSError:  # no IPv6 loopback here
            pass
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        for server in self._sockets:
            server.settimeout(0.2)
            threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        self._closed.set()
        for s in self._sockets + self._held:
            s.close()


@pytest.fixture
def listener():
    listening = Listener()
    yield listening
    listening.close()


def spellings(port: int) -> list[str]:
    return [f"http://{host}:{port}/cb?token=secret" for host in
            ("127.0.0.1", "127.1", "2130706433", "0x7f000001", "[::1]", "0.0.0.0", "localhost")]


# --- the rule -------------------------------------------------------------------------------------------

def test_the_default_allows_private_ranges_and_refuses_loopback_link_local_multicast_and_public():
    policy = DestinationPolicy(parse_networks(DEFAULT))
    for address in ("10.1.2.3", "172.16.0.9", "192.168.1.20", "fd00::5"):
        assert policy.refusal(address) is None
    for address, why in (("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
                         ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"),
                         ("224.0.0.251", "multicast"), ("0.0.0.0", "unspecified"), ("8.8.8.8", "not in")):
        assert why in (policy.refusal(address) or ""), address


def test_a_wide_range_never_opens_special_addresses_and_the_box_itself_needs_its_own_line():
    own = frozenset({ipaddress.ip_address("192.168.1.10")})
    everything = DestinationPolicy(parse_networks(["0.0.0.0/0", "::/0"]), own)
    assert everything.refusal("203.0.113.7") is None
    assert "loopback" in (everything.refusal("127.0.0.1") or "")
    assert "link-local" in (everything.refusal("169.254.169.254") or "")
    assert "own address" in (everything.refusal("192.168.1.10") or "")
    listed = DestinationPolicy(parse_networks(["192.168.0.0/16", "192.168.1.10/32", "127.0.0.1/32"]), own)
    assert listed.refusal("192.168.1.10") is None and listed.refusal("127.0.0.1") is None
    assert listed.refusal("127.0.0.2") is not None


def test_log_lines_carry_no_credentials():
    assert redacted_url("https://user:pw@crm.lan:8443/hook?token=abc#x") == "https://crm.lan:8443/hook?…"
    assert redacted_url("http://[::1]/a") == "http://[::1]/a"
    error = ("ConnectionError: HTTPConnectionPool(host='crm.lan', port=80): Max retries exceeded with "
             "url: /cb?k=s3cret (Caused by …)")
    assert "s3cret" not in without_queries(error) and "/cb?…" in without_queries(error)


# --- request time, every door ---------------------------------------------------------------------------

@pytest.fixture
def default_box(gateway_factory, settings):
    """A gateway with the default `[webhooks] allow` (loopback refused)."""
    gateway, fakes, token = gateway_factory(1, settings_override=settings.replace(webhooks=WebhookSettings()))
    return gateway, token


def test_every_door_refuses_loopback_callbacks_at_request_time_and_changes_nothing(default_box, listener):
    gateway, token = default_box
    base = f"http://127.0.0.1:{gateway.port}"
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    _, kannel_token = gateway.service.keys.create_key("kannel-user", ["send"])
    _, twilio_token = gateway.service.keys.create_key("twilio-app", ["send"])
    sid = sid_of_token(twilio_token)
    for url in spellings(listener.port):
        sent = api.post(f"{base}/api/v1/messages", json={"to": "+447911123456", "body": "x", "status_callback": url})
        assert sent.status_code == 422, (url, sent.text)
        assert sent.json()["error"]["code"] == "callback_not_allowed"
        assert sent.json()["error"]["field"] == "status_callback"
        hook = api.post(f"{base}/api/v1/webhooks", json={"url": url, "events": ["message.sent"]})
        assert hook.status_code == 422 and hook.json()["error"]["code"] == "callback_not_allowed", url
        kannel = requests.get(f"{base}/cgi-bin/sendsms?username=kannel-user&password={quote(kannel_token)}"
                              f"&to=%2B447911123456&text=x&dlr-mask=31&dlr-url={quote(url, safe='')}", timeout=10)
        assert kannel.status_code == 400 and "rejected" in kannel.text, (url, kannel.text)
        twilio = requests.post(f"{base}/2010-04-01/Accounts/{sid}/Messages.json", auth=(sid, twilio_token),
                               data={"To": "+447911123456", "Body": "x", "StatusCallback": url}, timeout=10)
        assert twilio.status_code == 400 and twilio.json()["code"] == 21609, (url, twilio.text)
    assert gateway.service.messages.list_messages(limit=10)[0] == []
    assert api.get(f"{base}/api/v1/webhooks").json()["webhooks"] == []
    assert listener.accepted == 0


# --- connect time ---------------------------------------------------------------------------------------

def test_connections_go_only_to_checked_addresses_whatever_the_name_resolves_to(listener):
    """A name allowed when it was checked but resolving to a refused address when used (DNS rebinding) reaches
    nothing: the session resolves again and checks the address it connects to."""
    refusing = CallbackDestinations(("127.0.0.2/32",))  # localhost resolves to 127.0.0.1 / ::1: refused
    with pytest.raises(requests.ConnectionError, match="destination refused"):
        refusing.session().get(f"http://localhost:{listener.port}/", timeout=2)
    assert listener.accepted == 0
    allowing = CallbackDestinations(("127.0.0.1/32",))
    with pytest.raises(requests.ReadTimeout):  # connected (to 127.0.0.1), and the listener never answers
        allowing.session().get(f"http://localhost:{listener.port}/", timeout=0.5)
    assert wait_until(lambda: listener.accepted == 1)


def test_a_stored_receiver_the_policy_refuses_fails_at_once_without_a_connection(store, listener):
    """A receiver that reached the database some other way (an older version, another box's config) is refused
    when its delivery comes up: final, with the reason, and nothing connects."""
    now = utcnow()
    store.events.add_webhook(f"http://127.0.0.1:{listener.port}/hook", ["message.received"], now)
    store.inbox.record_received("modem1", ReceivedSms(memory="SM", index=1, sender="+447911123456", text="hi",
                                                      sent_at=now, concat=None, pdu_hex="00"), now)
    dispatcher = WebhookDispatcher(store, WebhookSettings(timeout_s=2), utcnow)
    dispatcher.start()
    try:
        [hook] = store.events.list_webhooks()
        delivery = wait_until(lambda: [d for d in store.events.list_deliveries(hook.uid)
                                       if d.state == DeliveryState.FAILED])[0]
    finally:
        dispatcher.stop()
    assert "loopback" in (delivery.last_error or "")
    assert listener.accepted == 0


# --- one receiver that never answers --------------------------------------------------------------------

def test_a_tarpit_receiver_does_not_hold_up_a_healthy_one(store, listener):
    """120 events queued for a receiver that accepts and never answers, then one for a healthy receiver: the
    healthy one gets its event within seconds, and the tarpit never holds more than its share of connections."""
    now = utcnow()
    store.events.add_webhook(f"http://127.0.0.1:{listener.port}/tarpit", ["message.received"], now)

    def receive(index: int) -> None:
        store.inbox.record_received("modem1", ReceivedSms(memory="SM", index=index, sender="+447911123456",
                                                          text=f"n{index}", sent_at=now, concat=None,
                                                          pdu_hex=f"{index:08X}"), now)

    for index in range(120):
        receive(index)
    healthy = Receiver()
    try:
        store.events.add_webhook(healthy.url, ["message.received"], now)
        receive(120)
        settings = WebhookSettings(timeout_s=2, concurrency=8, allow=LOOPBACK)
        dispatcher = WebhookDispatcher(store, settings, utcnow)
        started = time.monotonic()
        dispatcher.start()
        try:
            assert healthy.wait_for(lambda r: len(r.events()) == 1, timeout_s=10)
            delay_s = time.monotonic() - started
        finally:
            dispatcher.stop()
    finally:
        healthy.release.set()
        healthy.down()
    assert delay_s < 5, delay_s
    # never more than its share at once: `per_destination` posts, each held until the 2 s timeout
    assert listener.accepted <= settings.per_destination * (1 + int(delay_s / settings.timeout_s))
