"""`python -m fake_modem --link PATH [...]`: run one fake modem until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .modem import FakeModem
from .profiles import PROFILES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fake_modem", description=__doc__)
    parser.add_argument("--link", required=True, help="path to symlink to the pty (like /dev/ttyUSB0)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="simcom")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay of each AT+CMGS answer")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="fraction of submits that fail")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--pin", default=None, help="SIM PIN the modem asks for")
    parser.add_argument("--own-number", default="+447911000001")
    parser.add_argument("--operator", default="Fake Telecom")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with FakeModem(link=args.link, profile=args.profile, latency_ms=args.latency_ms,
                   fail_rate=args.fail_rate, seed=args.seed, pin=args.pin,
                   own_number=args.own_number, operator=args.operator) as modem:
        print(args.link, flush=True)
        print(f"{args.profile} modem on {modem.device}, IMEI {modem.imei}", file=sys.stderr, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
