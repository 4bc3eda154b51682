"""Upstream figures: with box A's modems all down, how long from queueing an OTP to its delivery receipt through
box B (another `smsgw run`, reached through its Twilio door, fake modems behind it); and how many messages a second
box A hands to B through each door when B is its only route.

    .venv/bin/python benchmarks/upstream.py [--fallback-after 10] [--otps 5] [--messages 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fake_modem import FakeModem  # noqa: E402
from gateway.appliance.runtime import Gateway  # noqa: E402
from gateway.config import (DatabaseSettings, MessagingSettings, ModemSettings, PoolSettings,  # noqa: E402
                            ServerSettings, Settings, UpstreamSettings)
from gateway.values import MessageState  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.upstream.test_upstream_box import ChildBox, twilio_upstream  # noqa: E402


def box_a(work: Path, upstream: UpstreamSettings, port: int, modem: FakeModem) -> Gateway:
    return Gateway(Settings(
        server=ServerSettings(host="127.0.0.1", port=port),
        database=DatabaseSettings(url=f"sqlite:///{work / 'a.db'}"),
        messaging=MessagingSettings(delivery_report=True, max_recipients=1000),
        pool=PoolSettings(health_interval_s=1.0, reconnect_min_s=0.2, reconnect_max_s=1.0),
        modems=(ModemSettings(name="a1", port=modem.link),), upstreams=(upstream,))).start()


def wait(predicate, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.01)


def otps_when_the_modems_are_down(work: Path, b: ChildBox, fallback_after_s: float, count: int) -> list[float]:
    modem = FakeModem(link=str(work / "a1"), seed=1).start()
    port = free_port()
    upstream = dataclasses.replace(twilio_upstream(b, port), fallback_after_s=fallback_after_s)
    gateway = box_a(work, upstream, port, modem)
    try:
        wait(lambda: {m.state.value for m in gateway.store.modems.list_modems()} == {"online"})
        modem.stop()
        wait(lambda: gateway.store.modems.list_modems()[0].state.value != "online")
        took = []
        for _ in range(count):
            start = time.monotonic()
            _, otp = gateway.service.otp.send_otp("+447911123456")
            wait(lambda: gateway.service.messages.get_message(otp.uid).state == MessageState.DELIVERED)
            took.append(time.monotonic() - start)
        return took
    finally:
        gateway.stop()


def throughput(work: Path, upstream: UpstreamSettings, port: int, count: int) -> float:
    modem = FakeModem(link=str(work / "a2"), seed=2)  # never started: A has no modem, B is its only route
    gateway = box_a(work, upstream, port, modem)
    try:
        wait(lambda: any(m.name == "backup" and m.state.value == "online" for m in gateway.store.modems.list_modems()))
        start = time.monotonic()
        sent = gateway.service.messages.send([f"+4479111{i:05d}" for i in range(count)], "load")
        wait(lambda: all(gateway.service.messages.get_message(m.uid).state != MessageState.QUEUED
                         and gateway.service.messages.get_message(m.uid).state != MessageState.SENDING for m in sent),
             timeout_s=600)
        return count / (time.monotonic() - start)
    finally:
        gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fallback-after", type=float, default=10.0)
    parser.add_argument("--otps", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # box A's modem is meant to be gone: its warnings are expected
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fakes = [FakeModem(link=str(work / f"b{i}"), seed=10 + i, latency_ms=20).start() for i in range(4)]
        b = ChildBox(work, fakes).start()
        try:
            took = otps_when_the_modems_are_down(work, b, args.fallback_after, args.otps)
            print(f"OTP queued → delivered through the upstream, A's modems down, fallback_after_s "
                  f"{args.fallback_after:g}: median {statistics.median(took):.2f} s, max {max(took):.2f} s "
                  f"({args.otps} codes)")
            for door in ("twilio", "kannel"):
                port = free_port()
                upstream = (twilio_upstream(b, port, use="always", priority="bulk") if door == "twilio" else
                            UpstreamSettings(name="backup", kind="kannel", url=f"{b.url}/cgi-bin/sendsms",
                                             username="box-a", password=b.token, use="always",
                                             receipts_to=f"http://127.0.0.1:{port}"))
                (work / "a.db").unlink()
                rate = throughput(work, upstream, port, args.messages)
                print(f"{args.messages} messages handed over through B's {door} door: {rate:.0f} messages/s")
        finally:
            b.stop()
            for fake in fakes:
                fake.stop()


if __name__ == "__main__":
    main()
