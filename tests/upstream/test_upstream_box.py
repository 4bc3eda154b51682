"""An upstream provider that is another box: box B is `smsgw run` in a child process, with fake modems, reached
through its Twilio-compatible door (and, in the second test, its Kannel door); box A runs here with its own fake
modem and B as `[[upstreams]]` kept as a fallback. With A's modem gone, an OTP goes out through B within seconds and
B's delivery receipt comes back to A's signed receipt address; with B down, A queues and resumes when B is back."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gateway.config import MessagingSettings, ModemSettings, PoolSettings, ServerSettings, Settings, UpstreamSettings
from gateway.core.service import GatewayService
from gateway.store import Store
from gateway.values import MessageState
from tests.conftest import wait_until
from tests.ports import free_port
from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]
TO = "+447911123456"


class ChildBox:
    """`smsgw run` on its own SQLite database in a child process, over fake modems of this process."""

    def __init__(self, tmp_path: Path, fakes) -> None:
        self.dir = tmp_path / "box-b"
        self.dir.mkdir()
        self.port, self.fakes = free_port(), fakes
        db = f"sqlite:///{self.dir / 'smsgw.db'}"
        store = Store.from_url(db)
        from gateway.store.migrate import upgrade

        upgrade(store.engine)
        self.token = GatewayService(store, MessagingSettings()).keys.create_key("box-a", ["send", "read"])[1]
        store.close()
        self.config = self.dir / "config.toml"
        self.config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\nbox = "b"\n'
            f'[database]\nurl = "{db}"\n'
            '[pool]\nsweep_interval_s = 1.0\nreconnect_min_s = 0.2\nreconnect_max_s = 1.0\n'
            '[webhooks]\nallow = ["127.0.0.0/8"]\nretry_base_s = 0.2\nretry_max_s = 0.5\n'  # A's receipts: loopback
            + "".join(f'[[modems]]\nname = "b{i}"\nport = "{f.link}"\n' for i, f in enumerate(fakes, 1)))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ChildBox":
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "--log-level", "WARNING", "run",
                                      "--config", str(self.config)], env=env, cwd=ROOT)
        wait_until(self._online, timeout_s=30)
        return self

    def _online(self) -> bool:
        try:
            modems = requests.get(f"{self.url}/api/v1/modems", headers={"Authorization": f"Bearer {self.token}"},
                                  timeout=5).json()["modems"]
        except (requests.ConnectionError, ValueError):
            return False
        return bool(modems) and all(m["state"] == "online" for m in modems)

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture
def box_b(tmp_path, modem_links):
    box = ChildBox(tmp_path, modem_links(1)).start()
    yield box
    box.stop()


def box_a(settings: Settings, modem_link: str, upstream: UpstreamSettings, port: int):
    from gateway.appliance.runtime import Gateway

    return Gateway(settings.replace(
        server=ServerSettings(host="127.0.0.1", port=port, threads=4),
        messaging=dataclasses.replace(settings.messaging, delivery_report=True),
        pool=PoolSettings(send_timeout_s=5, command_timeout_s=2, sweep_interval_s=1.0, health_interval_s=1.0,
                          reconnect_min_s=0.2, reconnect_max_s=1.0),
        modems=(ModemSettings(name="a1", port=modem_link),), upstreams=(upstream,))).start()


def twilio_upstream(box: ChildBox, a_port: int, **extra) -> UpstreamSettings:
    """B's Twilio door as A's upstream, by default kept for OTPs (priority high) no modem took within 1 s."""
    from web.compat.twilio.accounts import sid_of_token

    return UpstreamSettings(**{"name": "backup", "kind": "twilio", "url": box.url,
                               "account_sid": sid_of_token(box.token), "auth_token": box.token,
                               "sender": "+447700900001", "fallback_after_s": 1.0, "priority": "high",
                               "receipts_to": f"http://127.0.0.1:{a_port}", **extra})


def states(gateway) -> dict[str, str]:
    return {m.name: m.state.value for m in gateway.store.modems.list_modems()}


def test_with_its_modem_gone_box_a_sends_otps_through_box_b_and_gets_the_receipts(settings, modem_links, box_b):
    [own] = modem_links(1)
    a_port = free_port()
    gateway = box_a(settings, own.link, twilio_upstream(box_b, a_port), a_port)
    try:
        wait_until(lambda: states(gateway) == {"a1": "online", "backup": "online"}, timeout_s=20)
        assert {m.name: m.kind for m in gateway.store.modems.list_modems()} == {"a1": "modem", "backup": "upstream"}
        _, normal = gateway.service.otp.send_otp(TO)
        wait_until(lambda: len(own.sent) == 1)  # a modem that can send takes it: the fallback waits its turn
        assert gateway.service.messages.get_message(normal.uid).modem == "a1"

        own.stop()  # A's only modem is unplugged
        wait_until(lambda: states(gateway)["a1"] != "online", timeout_s=20)
        started = time.monotonic()
        _, otp = gateway.service.otp.send_otp(TO)
        wait_until(lambda: gateway.service.messages.get_message(otp.uid).state == MessageState.DELIVERED,
                   timeout_s=20)
        took_s = time.monotonic() - started
        message = gateway.service.messages.get_message(otp.uid)
        assert message.modem == "backup" and len(box_b.fakes[0].sent) == 1
        assert box_b.fakes[0].sent[0].number == TO
        history = [(e.state, e.detail or "") for e in message.events]
        assert any(state == "sent" and "accepted by upstream backup as SM" in detail for state, detail in history)
        assert history[-1][0] == "delivered" and "Twilio status delivered" in history[-1][1]
        assert took_s < 10, took_s
        bulk = gateway.service.messages.send([TO], "a newsletter", priority="bulk")[0]
        time.sleep(2.5)  # past fallback_after_s: the upstream keeps to high priority
        assert gateway.service.messages.get_message(bulk.uid).state == MessageState.QUEUED
    finally:
        gateway.stop()


def test_a_receipt_at_an_address_the_box_did_not_give_changes_nothing(settings, modem_links, box_b):
    [own] = modem_links(1)
    a_port = free_port()
    gateway = box_a(settings, own.link, twilio_upstream(box_b, a_port, use="always"), a_port)
    try:
        wait_until(lambda: states(gateway) == {"a1": "online", "backup": "online"}, timeout_s=20)
        [message] = gateway.service.messages.send([TO], "hello", via="backup")
        wait_until(lambda: gateway.service.messages.get_message(message.uid).state == MessageState.DELIVERED)
        base = f"http://127.0.0.1:{a_port}/receipts"
        real = gateway.service.receipts.url("backup", message.uid).removeprefix(base)
        for path in (f"/backup/{message.uid}/{'0' * 32}", f"/other/{message.uid}/{real.rsplit('/', 1)[1]}"):
            forged = requests.post(base + path, data={"MessageStatus": "undelivered"}, timeout=5)
            assert forged.status_code == 404 and forged.json()["error"]["code"] == "receipt_not_expected"
        again = requests.post(base + real, data={"MessageStatus": "undelivered"}, timeout=5)  # too late: settled
        assert again.status_code == 200 and again.json()["state"] == "failed"
        message = gateway.service.messages.get_message(message.uid)
        assert message.state == MessageState.DELIVERED and message.events[-1].state == "delivered"
    finally:
        gateway.stop()


def test_with_box_b_down_box_a_queues_and_resumes_through_its_kannel_door(settings, modem_links, box_b):
    [own] = modem_links(1)
    own.stop()  # box A has no modem at all: everything goes upstream
    a_port = free_port()
    upstream = UpstreamSettings(name="backup", kind="kannel", url=f"{box_b.url}/cgi-bin/sendsms", username="box-a",
                                password=box_b.token, use="always", receipts_to=f"http://127.0.0.1:{a_port}")
    gateway = box_a(settings, own.link, upstream, a_port)
    try:
        wait_until(lambda: states(gateway).get("backup") == "online", timeout_s=20)
        box_b.stop()
        wait_until(lambda: states(gateway)["backup"] == "offline", timeout_s=20)  # its health probe finds it gone
        [waiting] = gateway.service.messages.send([TO], "sent while B is down", delivery_report=True)
        time.sleep(1.5)
        assert gateway.service.messages.get_message(waiting.uid).state == MessageState.QUEUED
        box_b.start()
        wait_until(lambda: gateway.service.messages.get_message(waiting.uid).state == MessageState.DELIVERED,
                   timeout_s=30)
        message = gateway.service.messages.get_message(waiting.uid)
        assert message.modem == "backup" and message.attempts == 1
        assert [s.number for s in box_b.fakes[0].sent] == [TO]
        assert message.events[-1].detail == "Kannel report type 1"
    finally:
        gateway.stop()
