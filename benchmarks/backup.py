"""Backup and restore of a box with a long history (SQLite): `smsgw backup` and `smsgw restore` timed end to end.

A database with `--messages` sent messages (each with its part, history and a received reply) is made through
the store's own verbs, then backed up and restored with the real commands (separate processes, as an operator
runs them). Printed: the history's size, the backup's size, and the two times.

    .venv/bin/python benchmarks/backup.py [--messages 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.appliance.runtime import open_store  # noqa: E402
from gateway.clock import utcnow  # noqa: E402
from gateway.config import DatabaseSettings, Settings  # noqa: E402
from gateway.values import MessageDraft  # noqa: E402

BATCH = 1000


def fill(settings: Settings, messages: int) -> None:
    store = open_store(settings)
    try:
        now = utcnow()
        for start in range(0, messages, BATCH):
            drafts = [MessageDraft(to_number=f"+4479111{n % 100000:05d}", body=f"Your code is {n:06d}",
                                   encoding="gsm7", parts=(f"Your code is {n:06d}",), delivery_report=True)
                      for n in range(start, min(start + BATCH, messages))]
            store.outbox.enqueue(drafts, now)
            while (job := store.outbox.claim_next("modem1", now, 60, submitting=True)) is not None:
                store.outbox.record_part_sent(job, 1, "modem1", job.message_id % 256, now)
    finally:
        store.close()


def smsgw(*args: str, url: str) -> float:
    env = {**os.environ, "SMSGW_DATABASE_URL": url, "SMSGW_BACKUP_PASSPHRASE": "benchmark passphrase"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gateway", "--log-level", "WARNING", *args], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        source = f"sqlite:///{work}/box/smsgw.db"
        started = time.perf_counter()
        fill(Settings(database=DatabaseSettings(url=source)), args.messages)
        print(f"history: {args.messages} sent messages in {time.perf_counter() - started:.1f} s, "
              f"database {Path(work, 'box', 'smsgw.db').stat().st_size / 1e6:.1f} MB")
        backup_s = smsgw("backup", f"{work}/box.backup", url=source)
        print(f"backup: {backup_s:.2f} s, file {Path(work, 'box.backup').stat().st_size / 1e6:.1f} MB")
        restore_s = smsgw("restore", f"{work}/box.backup", url=f"sqlite:///{work}/restored/smsgw.db")
        print(f"restore: {restore_s:.2f} s (including the start's checks: schema, box key)")


if __name__ == "__main__":
    main()
