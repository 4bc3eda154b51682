"""Webhook figures: events per second delivered to a fast local receiver, and the time from a status
report leaving the modem to the receiver getting `message.delivered` (median, p99).

The gateway runs as `smsgw run` in its own process; the emulated modem and the receiver run here.

    .venv/bin/python benchmarks/webhooks.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import Client, gateway, percentile  # noqa: E402

from gateway.appliance.runtime import open_store  # noqa: E402
from gateway.config import DatabaseSettings, Settings, WebhookSettings  # noqa: E402
from gateway.core.webhooks import WebhookDispatcher  # noqa: E402
from gateway.values import ReceivedSms  # noqa: E402


class FastReceiver:
    """Answers 204 at once and notes when each event arrived (time.monotonic())."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.changed:
                    receiver.arrivals[self.headers["X-Smsgw-Event-Id"]] = time.monotonic()
                    receiver.changed.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"

    def wait_count(self, n: int, timeout_s: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.arrivals) >= n, timeout_s)


def throughput(count: int) -> dict:
    """The delivery worker alone: `count` message.received events already queued, then the worker starts."""
    receiver = FastReceiver()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Settings(database=DatabaseSettings(url=f"sqlite:///{tmp}/bench.db")))
        now = datetime.now(timezone.utc)
        store.events.add_webhook(receiver.url, ["message.received"], now)
        for i in range(count):
            store.inbox.record_received("modem1", ReceivedSms(memory="SM", index=i, sender="+447911123456",
                                                              text=f"reply {i}", sent_at=now, concat=None,
                                                              pdu_hex=f"{i:08X}"), now)
        dispatcher = WebhookDispatcher(store, WebhookSettings(), lambda: datetime.now(timezone.utc))
        started = time.monotonic()
        dispatcher.start()
        try:
            assert receiver.wait_count(count, 300), f"only {len(receiver.arrivals)} of {count} events arrived"
            elapsed = max(receiver.arrivals.values()) - started
        finally:
            dispatcher.stop()
            store.close()
    return {"events": count, "events_per_s": count / elapsed}


def report_latency(samples: int) -> dict:
    """Send, then have the modem emit the status report by hand: time until `message.delivered` arrives."""
    receiver = FastReceiver()
    latencies = []
    with gateway(modems=1) as (port, token, [fake]):
        client = Client(port, token)
        client.call("POST", "/api/v1/webhooks", {"url": receiver.url, "events": ["message.delivered"]})
        for i in range(samples):
            status, message = client.call("POST", "/api/v1/messages", {"to": "+447911123456", "body": f"r{i}"})
            assert status == 202
            fake.wait_for(lambda f: len(f.sent) > i, 10)
            reference = fake.sent[i].reference
            while client.call("GET", f"/api/v1/messages/{message['id']}")[1]["state"] != "sent":
                time.sleep(0.005)
            seen = len(receiver.arrivals)
            started = time.monotonic()
            fake.send_report(reference, 0)
            assert receiver.wait_count(seen + 1, 10)
            latencies.append((max(receiver.arrivals.values()) - started) * 1000)
    return {"n": samples, "median_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    t = throughput(500 if args.quick else 3000)
    print(f"webhook worker: {t['events']} queued events delivered at {t['events_per_s']:.0f} events/s "
          f"(default concurrency 8, receiver on loopback)", flush=True)
    r = report_latency(30 if args.quick else 200)
    print(f"status report at the modem → message.delivered at the receiver (n={r['n']}): "
          f"median {r['median_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
