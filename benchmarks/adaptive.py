"""Adaptive routing's figures: over two fake modems, one of whose SIMs gets `--undelivered` of its SMS reported
"not delivered", messages go in bursts of `--burst` (each burst reported before the next, so both SIMs are busy
as under real traffic; each send takes `--latency-ms`); printed: how many messages went before the poor SIM was
deferred, its share of the traffic before and after, and, once it delivers again, how many messages until it
takes work again.
`[routing]` defaults unless given.

    .venv/bin/python benchmarks/adaptive.py [--undelivered 0.5] [--messages 400] [--burst 10] [--explore 0.1]
                                            [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fake_modem import FakeModem  # noqa: E402
from gateway.appliance.runtime import Gateway  # noqa: E402
from gateway.config import DatabaseSettings, MessagingSettings, ModemSettings, RoutingSettings, Settings  # noqa: E402
from gateway.values import MessageState  # noqa: E402

SETTLED = (MessageState.DELIVERED, MessageState.FAILED)


def send_burst(gateway: Gateway, first: int, count: int) -> list[str]:
    """Send `count` messages at once, wait for every report, refresh the figures; the modem of each."""
    sent = gateway.service.messages.send([f"+4479111{i:05d}" for i in range(first, first + count)], "burst")
    while any(gateway.service.messages.get_message(m.uid).state not in SETTLED for m in sent):
        time.sleep(0.01)
    gateway.service.routing.refresh()
    return [gateway.service.messages.get_message(m.uid).modem or "" for m in sent]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--undelivered", type=float, default=0.5)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--explore", type=float, default=RoutingSettings.explore)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        good = FakeModem(link=f"{tmp}/good", seed=1, latency_ms=args.latency_ms).start()
        poor = FakeModem(link=f"{tmp}/poor", seed=2, latency_ms=args.latency_ms).start()
        poor.set_undelivered_rate(args.undelivered)
        gateway = Gateway(Settings(
            database=DatabaseSettings(url=f"sqlite:///{tmp}/smsgw.db"),
            messaging=MessagingSettings(delivery_report=True, max_recipients=1000),
            modems=(ModemSettings(name="good", port=good.link), ModemSettings(name="poor", port=poor.link)),
            routing=RoutingSettings(strategy="adaptive", explore=args.explore, refresh_s=3600)))
        try:
            gateway.start(serve_http=False)
            while [m.state.value for m in gateway.store.modems.list_modems()] != ["online", "online"]:
                time.sleep(0.05)
            sent: list[str] = []
            deferred_after = None
            for first in range(0, args.messages, args.burst):
                sent += send_burst(gateway, first, args.burst)
                if deferred_after is None and "poor" in gateway.service.routing.reasons:
                    deferred_after = len(sent)
            if deferred_after is None:
                print(f"the poor SIM was never deferred in {args.messages} messages")
            else:
                before, after = sent[:deferred_after], sent[deferred_after:]
                print(f"poor SIM delivering {1 - args.undelivered:.0%}: deferred after {deferred_after} messages "
                      f"(it sent {before.count('poor')} of them); then {after.count('poor')} of the next "
                      f"{len(after)} ({after.count('poor') / max(len(after), 1):.0%})")
            poor.set_undelivered_rate(0.0)
            for n in range(args.burst, 20 * args.messages, args.burst):
                send_burst(gateway, args.messages + n, args.burst)
                if "poor" not in gateway.service.routing.reasons:
                    print(f"after it recovered: {n} messages until it takes work again")
                    break
        finally:
            gateway.stop()
            good.stop()
            poor.stop()


if __name__ == "__main__":
    main()
