"""Several boxes: `smsgw run` processes on one PostgreSQL database, each with its own fake modems, sending one
shared outbox. Figure: messages per minute against the ideal of all their modems (each busy all the time).

    .venv/bin/python benchmarks/multibox.py [--boxes 1 3] [--modems 1 4 16] [--latency 0.1] [--seconds 15]

`--modems` counts the modems of all boxes together, dealt out in turn (16 on 3 boxes: 6, 5 and 5); a box left
without one still runs (it takes API calls only). `--database sqlite` runs one box on SQLite instead.
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


def boxes_sending(boxes: int, modems: int, latency_s: float, seconds: float) -> dict:
    count = max(modems, int(modems * seconds / latency_s))
    shares = [len(range(i, modems, boxes)) for i in range(boxes)]
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = core.DATABASES.new_url(tmp)
        running = [stack.enter_context(core.gateway(modems=share, latency_ms=int(latency_s * 1000), database_url=url,
                                                    box=f"box{i}", key_file=tmp / "box.key"))
                   for i, share in enumerate(shares)]
        port, token, _ = running[0]
        client = core.Client(port, token)
        numbers = [f"+4479111{i:05d}" for i in range(count)]
        for start in range(0, count, 1000):
            status, _ = client.call("POST", "/api/v1/messages", {"to": numbers[start:start + 1000], "body": "x"})
            assert status == 202
        accepted = time.monotonic()
        fakes = [f for _, _, box_fakes in running for f in box_fakes]
        core.wait_all_sent(fakes, count)
        first, last = core.sending_window(fakes)
        steady = core.steady_share(fakes, accepted, last, latency_s)
        per_box = [sum(len(f.sent) for f in box_fakes) for _, _, box_fakes in running]
        numbers_sent = [s.number for f in fakes for s in f.sent]
    elapsed = last - first + latency_s  # the last submit still takes one latency to answer
    rate, ideal = count / elapsed * 60, modems * 60 / latency_s
    return {"messages": count, "per_min": rate, "ideal": ideal, "pct": 100 * rate / ideal, "steady_pct": steady,
            "overhead_ms": (elapsed * modems / count - latency_s) * 1000, "per_box": per_box,
            "duplicates": len(numbers_sent) - len(set(numbers_sent))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, nargs="*", default=[1, 3], help="boxes sharing the database")
    parser.add_argument("--modems", type=int, nargs="*", default=[1, 4, 16], help="modems of all boxes together")
    parser.add_argument("--latency", type=float, nargs="*", default=[0.1], help="send latency, s")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    args = parser.parse_args()
    core.DATABASES.kind = args.database
    print(f"boxes on one {args.database} database   messages/min   ideal   % of ideal  steady  overhead/msg   per box"
          "   duplicates   [target: ≥95 % of ideal at 0.1 s]", flush=True)
    try:
        for latency_s in args.latency:
            for boxes in args.boxes if args.database == "postgresql" else [1]:
                for modems in args.modems:
                    r = boxes_sending(boxes, modems, latency_s, args.seconds)
                    print(f"  {boxes} box(es), {modems:>2} modem(s) at {latency_s:>4} s {r['per_min']:>10.1f}  "
                          f"{r['ideal']:>6.0f}   {r['pct']:>8.1f} %  {r['steady_pct']:>5.1f} %  "
                          f"{r['overhead_ms']:>8.1f} ms   "
                          f"{'/'.join(map(str, r['per_box'])):>9}   {r['duplicates']}", flush=True)
    finally:
        core.DATABASES.close()


if __name__ == "__main__":
    main()
