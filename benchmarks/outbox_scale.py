"""Outbox scale: the cost of enqueue and claim with 10 k and 1 M rows of history in the outbox.

History is what a busy box accumulates: sent and delivered messages with their parts and history rows,
bulk-loaded here with Core executemany (about 4 rows per message: the message, one part, two history
rows). Then the store's own verbs are timed, in process: `enqueue` of one message, and `claim_next` +
`record_part_sent` (the worker's per-message store work). They must not grow with history.

    .venv/bin/python benchmarks/outbox_scale.py [--database sqlite|postgresql] [--rows 10000,1000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.core import Databases, percentile  # noqa: E402
from gateway.store import Store  # noqa: E402
from gateway.store.migrate import upgrade  # noqa: E402
from gateway.store.models import Message, MessageEvent, Part  # noqa: E402
from gateway.values import (
    MessageDraft,  # noqa: E402
    MessageState,
    PartState,
)

ROWS_PER_MESSAGE = 4
CHUNK = 5000


def load_history(store: Store, rows: int, now: datetime) -> float:
    """Bulk-insert about `rows` rows of finished messages; returns the seconds it took."""
    started = time.monotonic()
    messages = rows // ROWS_PER_MESSAGE
    first_id = 1
    with store.engine.begin() as conn:
        for start in range(0, messages, CHUNK):
            ids = range(first_id + start, first_id + min(messages, start + CHUNK))
            at = now - timedelta(days=30)
            conn.execute(Message.__table__.insert(), [
                {"id": i, "uid": f"msg_h{i:018x}", "to_number": f"+4479111{i % 100000:05d}", "body": "history",
                 "encoding": "gsm7", "part_count": 1, "concat_ref": i % 256,
                 "state": MessageState.DELIVERED if i % 3 else MessageState.SENT, "priority": 1,
                 "delivery_report": True, "attempts": 1, "next_attempt_at": at, "modem": "modem1",
                 "pinned_modem": "modem1", "report_overdue": False, "created_at": at, "updated_at": at,
                 "sent_at": at} for i in ids])
            conn.execute(Part.__table__.insert(), [
                {"message_id": i, "seq": 1, "text": "history", "state": PartState.DELIVERED, "modem": "modem1",
                 "reference": i % 256, "sent_at": at} for i in ids])
            conn.execute(MessageEvent.__table__.insert(), [
                {"message_id": i, "part_seq": None, "state": state, "modem": "modem1", "at": at}
                for i in ids for state in ("queued", "sent")])
    if not store.is_sqlite:  # the ids were given: move the sequence past them; fresh statistics
        with store.engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval('messages_id_seq', (SELECT max(id) FROM messages))")
            conn.exec_driver_sql("ANALYZE")
    return time.monotonic() - started


def draft(i: int) -> MessageDraft:
    return MessageDraft(to_number=f"+4479112{i % 100000:05d}", body="Your code is 123456", encoding="gsm7",
                        parts=("Your code is 123456",), delivery_report=False)


def measure(store: Store, samples: int, now: datetime) -> dict:
    enqueue_ms, claim_ms = [], []
    for i in range(samples):
        t0 = time.perf_counter()
        store.outbox.enqueue([draft(i)], now)
        enqueue_ms.append((time.perf_counter() - t0) * 1000)
    for i in range(samples):
        t0 = time.perf_counter()
        job = store.outbox.claim_next("modem1", now, 300)
        store.outbox.record_part_sent(job, 1, "modem1", i % 256, now)
        claim_ms.append((time.perf_counter() - t0) * 1000)
    return {"enqueue_p50": statistics.median(enqueue_ms), "enqueue_p99": percentile(enqueue_ms, 99),
            "claim_p50": statistics.median(claim_ms), "claim_p99": percentile(claim_ms, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rows", default="10000,1000000", help="history sizes, comma-separated")
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    databases = Databases(args.database)
    now = datetime.now(timezone.utc)
    print(f"outbox scale ({args.database}; store verbs in process, {args.samples} samples)\n"
          "  history rows   load s   enqueue p50/p99 ms   claim+sent p50/p99 ms   [target: 1 M within 20 % of 10 k]",
          flush=True)
    results = {}
    try:
        for rows in (int(r) for r in args.rows.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                store = Store.from_url(databases.new_url(Path(tmp)), key_file=str(Path(tmp) / "box.key"))
                store.db.box = "bench"
                upgrade(store.engine)
                load_s = load_history(store, rows, now)
                measure(store, 50, now)  # warm up
                r = results[rows] = measure(store, args.samples, now)
                store.close()
            print(f"  {rows:>12,}  {load_s:>7.1f}   {r['enqueue_p50']:>7.2f} / {r['enqueue_p99']:<7.2f}     "
                  f"{r['claim_p50']:>8.2f} / {r['claim_p99']:<8.2f}", flush=True)
    finally:
        databases.close()
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, large = results[sizes[0]], results[sizes[-1]]
        print(f"  growth {sizes[0]:,} → {sizes[-1]:,}: enqueue p50 {large['enqueue_p50'] / small['enqueue_p50'] - 1:+.0%},"
              f" claim p50 {large['claim_p50'] / small['claim_p50'] - 1:+.0%}")


if __name__ == "__main__":
    main()
