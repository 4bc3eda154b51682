"""Sustained load: a steady rate of API requests against `smsgw run` (loopback only), with the queue watched.

    .venv/bin/python benchmarks/load.py [--rate 100] [--seconds 60] [--modems 4]
    .venv/bin/python benchmarks/load.py --soak [--seconds 600]    # RSS of the gateway at start and end

Open loop: each client thread has a fixed schedule (rate / threads per second) and sends on it whatever the
answers' latency, so a slow server shows up as lateness and queue growth, not as a lower offered rate. The
mix: 50 % POST /messages (one recipient), 30 % GET /messages/<id>, 20 % GET /modems. The queue depth
(queued + sending, from /metrics) is sampled every second: it must stay bounded (the modems keep up).
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import core  # noqa: E402

_DEPTH = re.compile(r'^smsgw_queue_depth\{state="(queued|sending)"\} (\S+)$', re.M)


def queue_depth(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return int(sum(float(v) for _, v in _DEPTH.findall(response.read().decode())))


def run(rate: float, seconds: float, modems: int, threads: int, soak: bool) -> dict:
    with core.gateway(modems=modems, latency_ms=20) as (port, token, fakes):
        rss_start = core.gateway_rss_mb()
        errors: list[str] = []
        latencies: list[float] = []
        late: list[float] = []
        counts = {"post": 0, "get": 0, "modems": 0}
        lock = threading.Lock()
        start = time.monotonic() + 0.5
        interval = threads / rate

        def client(k: int) -> None:
            http = core.Client(port, token)
            uids: list[str] = []
            n = 0
            while True:
                due = start + (n + k / threads) * interval
                if due > start + seconds:
                    return
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                kind = ("post", "post", "post", "post", "post", "get", "get", "get", "modems", "modems")[
                    (n * 7 + k) % 10] if uids else "post"
                began = time.monotonic()
                try:
                    if kind == "post":
                        status, body = http.call("POST", "/api/v1/messages", {
                            "to": [f"+4479{k:03d}{n:05d}"], "body": f"load {k} {n}"})
                        ok = status == 202
                        if ok:
                            uids.append(body["messages"][0]["id"])
                    elif kind == "get":
                        status, _ = http.call("GET", f"/api/v1/messages/{uids[n % len(uids)]}")
                        ok = status == 200
                    else:
                        status, _ = http.call("GET", "/api/v1/modems")
                        ok = status == 200
                except OSError as exc:
                    status, ok = repr(exc), False
                    http = core.Client(port, token)
                took = time.monotonic() - began
                with lock:
                    counts[kind] += 1
                    latencies.append(took)
                    late.append(max(0.0, began - due))
                    if not ok:
                        errors.append(f"{kind} {status}")
                n += 1

        workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        depths: list[int] = []
        rss_samples: list[float] = []
        while any(w.is_alive() for w in workers):
            time.sleep(1.0)
            depths.append(queue_depth(port))
            if soak and len(depths) % 60 == 0:
                rss_samples.append(core.gateway_rss_mb())
                print(f"  {len(depths):>4} s  rss {rss_samples[-1]:.1f} MB  queue {depths[-1]}", flush=True)
        for w in workers:
            w.join()
        elapsed = time.monotonic() - start
        drained_at = time.monotonic()
        while queue_depth(port) and time.monotonic() - drained_at < 60:
            time.sleep(0.2)
        total = sum(counts.values())
        return {
            "offered_rps": rate, "achieved_rps": round(total / elapsed, 1), "requests": total, **counts,
            "errors": len(errors), "error_samples": errors[:5],
            "p50_ms": round(core.percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(core.percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1),
            "p99_late_ms": round(core.percentile(late, 99) * 1000, 1),
            "queue_max": max(depths or [0]), "queue_end": depths[-1] if depths else 0,
            "drain_s": round(time.monotonic() - drained_at, 1),
            "sent_on_air": sum(len(f.sent) for f in fakes),
            "rss_start_mb": round(rss_start, 1),
            "rss_after_warmup_mb": rss_samples[0] if rss_samples else None,  # at the first minute (soak)
            "rss_end_mb": round(core.gateway_rss_mb(), 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, all clients together")
    parser.add_argument("--seconds", type=float, default=None, help="default 60, or 600 with --soak")
    parser.add_argument("--modems", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--soak", action="store_true", help="10 minutes, RSS printed every minute")
    args = parser.parse_args()
    seconds = args.seconds or (600.0 if args.soak else 60.0)
    result = run(args.rate, seconds, args.modems, args.threads, args.soak)
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    ok = result["errors"] == 0 and result["queue_end"] <= result["queue_max"] and result["drain_s"] < 60
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
