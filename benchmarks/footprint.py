"""Footprint: RSS and CPU of an idle `smsgw run` with 4 (emulated) modems, over 60 s.

An idle gateway must not busy-poll: its workers wait on events and timers (health poll, storage sweep,
the idle poll), the listener (PostgreSQL) waits on its socket. The fake modems run in this process and
are not counted.

    .venv/bin/python benchmarks/footprint.py [--database sqlite|postgresql] [--seconds 60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import core  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--modems", type=int, default=4)
    args = parser.parse_args()
    core.DATABASES.kind = args.database
    try:
        with core.gateway(modems=args.modems) as (port, token, fakes):
            time.sleep(5)  # let start-up settle (first health poll and sweep)
            cpu0, t0 = core.gateway_cpu_s(), time.monotonic()
            time.sleep(args.seconds)
            cpu = (core.gateway_cpu_s() - cpu0) / (time.monotonic() - t0) * 100
            rss = core.gateway_rss_mb()
    finally:
        core.DATABASES.close()
    print(f"idle footprint ({args.database}, {args.modems} modems, {args.seconds:.0f} s): CPU {cpu:.2f} %, "
          f"RSS {rss:.1f} MB   [target: < 1 % CPU, < 80 MB RSS]")


if __name__ == "__main__":
    main()
