"""Issue 7 figures: enqueue time of one 10,000-recipient request, and how long a `high` message waits
behind a running bulk campaign.

    .venv/bin/python benchmarks/priority.py [--quick] [--database sqlite|postgresql]

The gateway runs as `smsgw run` in its own process (benchmarks/core.py's helpers); the fake modems run here.
"""

from __future__ import annotations

import argparse
import statistics
import time

from core import DATABASES, Client, gateway, percentile

HIGH = "+447812345678"


def enqueue_batch(recipients: int, repeats: int) -> dict:
    """One POST /api/v1/messages to `recipients` numbers: the time to its 202 (all rows committed)."""
    with gateway(modems=0) as (port, token, _):
        client = Client(port, token)
        times = []
        for r in range(repeats):
            numbers = [f"+447400{r}{i:05d}" for i in range(recipients)]
            t0 = time.perf_counter()
            status, body = client.call("POST", "/api/v1/messages",
                                       {"to": numbers, "body": "Winter sale: 20% off", "priority": "bulk"})
            times.append(time.perf_counter() - t0)
            assert status == 202 and body["count"] == recipients, (status, body)
    return {"recipients": recipients, "median_s": statistics.median(times), "max_s": max(times), "n": repeats}


def high_behind_bulk(modems: int, latency_ms: int, bulk: int, samples: int) -> dict:
    """A bulk batch is running on `modems` modems; a `high` message's 202 → its AT+CMGS on a modem."""
    with gateway(modems=modems, latency_ms=latency_ms) as (port, token, fakes):
        client = Client(port, token)
        numbers = [f"+4474001{i:05d}" for i in range(bulk)]
        status, _ = client.call("POST", "/api/v1/messages", {"to": numbers, "body": "campaign", "priority": "bulk"})
        assert status == 202
        waits, behind = [], []
        for i in range(samples):
            while sum(len(f.sent) for f in fakes) < (i + 1) * 5:  # the campaign is running
                time.sleep(0.005)
            number = f"+4478123456{i:02d}"
            status, _ = client.call("POST", "/api/v1/messages",
                                    {"to": number, "body": f"code {i}", "priority": "high"})
            answered = time.monotonic()
            assert status == 202
            while not any(s.number == number for f in fakes for s in f.sent):
                time.sleep(0.001)
            waits.append((time.monotonic() - answered) * 1000)
            behind.append(bulk - sum(len(f.sent) for f in fakes))
    return {"modems": modems, "latency_ms": latency_ms, "bulk": bulk, "median_ms": statistics.median(waits),
            "p99_ms": percentile(waits, 99), "max_ms": max(waits), "n": samples,
            "bulk_still_queued": min(behind)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    DATABASES.kind = args.database
    print(f"database: {args.database}", flush=True)
    try:
        e = enqueue_batch(10_000, 2 if args.quick else 5)
        print(f"enqueue of one {e['recipients']}-recipient request (202, all committed): median {e['median_s']:.2f} s, "
              f"max {e['max_s']:.2f} s (n={e['n']})", flush=True)
        for modems, latency_ms in ((1, 100), (2, 1000)):
            h = high_behind_bulk(modems, latency_ms, bulk=2000, samples=5 if args.quick else 20)
            print(f"high message behind a running {h['bulk']}-message bulk batch, {h['modems']} modem(s) at "
                  f"{h['latency_ms']} ms/send: 202 → AT+CMGS median {h['median_ms']:.0f} ms, p99 {h['p99_ms']:.0f} ms, "
                  f"max {h['max_ms']:.0f} ms (n={h['n']}; ≥{h['bulk_still_queued']} bulk still queued behind it)",
                  flush=True)
    finally:
        DATABASES.close()


if __name__ == "__main__":
    main()
