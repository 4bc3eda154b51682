"""Sealing at rest: what the box key costs a message, on the store's hot path.

The store's own verbs are timed in process (as benchmarks/outbox_scale.py does): `enqueue` of one message
(its number, body, part text and event payload sealed) and `claim_next` + `record_part_sent` (the worker's
per-message store work: the claim opens them again). "off" is the same store with a key whose seal and open
are the identity, so the difference is the sealing alone. Also printed: one seal and one open, in µs.

    .venv/bin/python benchmarks/sealing.py [--database sqlite|postgresql] [--samples 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import timeit
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.core import Databases  # noqa: E402
from benchmarks.outbox_scale import measure  # noqa: E402
from gateway.store import Store  # noqa: E402
from gateway.store.database import make_engine  # noqa: E402
from gateway.store.migrate import upgrade  # noqa: E402
from gateway.store.sealing import BoxKey  # noqa: E402


class PlainKey(BoxKey):
    """Sealing off: values are stored as they are."""

    def seal(self, plain: str) -> str:
        return plain

    def seal_number(self, plain: str) -> str:
        return plain

    def open(self, stored: str) -> str:
        return stored


def run(url: str, key: BoxKey, samples: int, now: datetime) -> dict:
    store = Store(make_engine(url), key)
    store.db.box = "bench"
    upgrade(store.engine)
    measure(store, 50, now)  # warm up
    result = measure(store, samples, now)
    store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    key = BoxKey.ephemeral()
    sealed = key.seal("Your appointment is on Tuesday at 9:30. Reply C to confirm.")
    number = key.seal_number("+447911123456")
    per_call = {name: min(timeit.repeat(call, number=2000, repeat=5)) / 2000 * 1e6 for name, call in (
        ("seal text", lambda: key.seal("Your appointment is on Tuesday at 9:30. Reply C to confirm.")),
        ("open text", lambda: key.open(sealed)), ("seal number", lambda: key.seal_number("+447911123456")),
        ("open number", lambda: key.open(number)))}
    print("one value: " + ", ".join(f"{name} {us:.1f} µs" for name, us in per_call.items()))
    databases = Databases(args.database)
    now = datetime.now(timezone.utc)
    print(f"store verbs ({args.database}, {args.samples} samples)\n"
          "  sealing   enqueue p50/p99 ms   claim+sent p50/p99 ms", flush=True)
    try:
        for name, box_key in (("off", PlainKey.ephemeral()), ("on", key), ("off", PlainKey.ephemeral()),
                              ("on", key)):
            with tempfile.TemporaryDirectory() as tmp:
                r = run(databases.new_url(Path(tmp)), box_key, args.samples, now)
            print(f"  {name:8} {r['enqueue_p50']:>7.2f} / {r['enqueue_p99']:<7.2f}     "
                  f"{r['claim_p50']:>8.2f} / {r['claim_p99']:<8.2f}", flush=True)
    finally:
        databases.close()


if __name__ == "__main__":
    main()
