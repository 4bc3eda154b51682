"""Several boxes: two `smsgw run` processes on one PostgreSQL database, each with its own fake modems,
sending one shared outbox. Figure: messages per minute against the sum of both boxes' ideal rate.

    .venv/bin/python benchmarks/multibox.py [--modems 2] [--latency 0.1] [--seconds 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import core  # noqa: E402


def two_boxes(modems: int, latency_s: float, seconds: float) -> dict:
    count = max(2 * modems, int(2 * modems * seconds / latency_s))
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = core.DATABASES.new_url(tmp)
        boxes = [stack.enter_context(core.gateway(modems=modems, latency_ms=int(latency_s * 1000), database_url=url,
                                                  box=box, key_file=tmp / "box.key")) for box in ("a", "b")]
        port, token, _ = boxes[0]
        client = core.Client(port, token)
        numbers = [f"+4479111{i:05d}" for i in range(count)]
        for start in range(0, count, 1000):
            status, _ = client.call("POST", "/api/v1/messages", {"to": numbers[start:start + 1000], "body": "x"})
            assert status == 202
        fakes = [f for _, _, box_fakes in boxes for f in box_fakes]
        while sum(len(f.sent) for f in fakes) < count:
            time.sleep(0.01)
        first = min(core._cmgs_times(f)[0] for f in fakes)
        last = max(f.timed_commands[-1][0] for f in fakes)
        per_box = [sum(len(f.sent) for f in box_fakes) for _, _, box_fakes in boxes]
        numbers_sent = [s.number for f in fakes for s in f.sent]
    elapsed = last - first + latency_s
    rate, ideal = count / elapsed * 60, 2 * modems * 60 / latency_s
    return {"messages": count, "per_min": rate, "ideal": ideal, "pct": 100 * rate / ideal, "per_box": per_box,
            "duplicates": len(numbers_sent) - len(set(numbers_sent))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modems", type=int, default=2, help="modems per box")
    parser.add_argument("--latency", type=float, nargs="*", default=[1.0, 0.1], help="send latency, s")
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    core.DATABASES.kind = "postgresql"
    print(f"two boxes on one PostgreSQL, {args.modems} modems each   messages/min   ideal   % of ideal   "
          "per box   duplicates   [target: within 5 % of the ideal sum]", flush=True)
    try:
        for latency_s in args.latency:
            r = two_boxes(args.modems, latency_s, args.seconds)
            print(f"  send latency {latency_s:>4} s {'':>28}{r['per_min']:>10.1f}  {r['ideal']:>6.0f}   "
                  f"{r['pct']:>8.1f} %   {r['per_box'][0]}/{r['per_box'][1]}   {r['duplicates']}", flush=True)
    finally:
        core.DATABASES.close()


if __name__ == "__main__":
    main()
