"""`smsgw db copy` from SQLite into PostgreSQL (a throwaway cluster of Debian's binaries), timed end to end.

A database with `--messages` sent messages (each with its part and history) is made with the store's verbs
(benchmarks/backup.py's `fill`), then copied by the real command; printed: rows, seconds, rows per second
(the read-back comparison included).

    .venv/bin/python benchmarks/dbcopy.py [--messages 20000]
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

from benchmarks.backup import fill  # noqa: E402
from gateway.config import DatabaseSettings, Settings  # noqa: E402
from tests.pg import PostgresCluster  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work, PostgresCluster.start(durable=True) as pg:
        source = f"sqlite:///{work}/smsgw.db"
        fill(Settings(database=DatabaseSettings(url=source)), args.messages)
        env = {**os.environ, "SMSGW_DATABASE_URL": source}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "gateway", "--log-level", "WARNING", "db", "copy", "--to",
                               pg.create_database(schema=False), "--key-file", f"{work}/pg.key"], env=env,
                              check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        rows = int(done.stdout.rsplit("copied ", 1)[1].split()[0])
        print(f"db copy: {rows} rows ({args.messages} messages) in {seconds:.1f} s: {rows / seconds:.0f} rows/s")


if __name__ == "__main__":
    main()
