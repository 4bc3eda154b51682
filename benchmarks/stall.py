"""A legitimate client's answers while idle, half-open and slow-header connections attack the server.

Runs the attack of tests/appliance/test_server_stall.py (from four loopback addresses, past the per-address cap,
plus a refused address, plus 300 idle connections from one address) against the production server over HTTP and over HTTPS, and prints how many of the
legitimate client's calls were answered and their latency.

    .venv/bin/python benchmarks/stall.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.appliance.server import HttpServer  # noqa: E402
from gateway.appliance.tls import make_selfsigned  # noqa: E402
from gateway.clock import utcnow  # noqa: E402
from tests.appliance.test_server_stall import ATTACKERS, CAP, Attack, app, legitimate_calls  # noqa: E402

ALLOWED = ["127.0.0.1/32", "127.0.0.2/31", "127.0.0.4/31", "127.0.0.9/32"]
FLOOD = 300  # more idle connections from one address, past waitress's old limit of 256 open connections


def run(scheme: str, seconds: float, folder: Path) -> str:
    cert = key = ""
    if scheme == "https":
        cert_path, key_path = make_selfsigned(folder, "smsgw-bench", now=utcnow())
        cert, key = str(cert_path), str(key_path)
    server = HttpServer(app, "127.0.0.1", 0, 4, allow_from=ALLOWED, max_per_address=CAP, header_timeout_s=10,
                        tls_cert=cert, tls_key=key)
    server.start()
    attack = Attack(server.port)
    try:
        attack.open()
        for _ in range(FLOOD):
            attack.connect(ATTACKERS[1])
        answered, failed, latencies = legitimate_calls(f"{scheme}://127.0.0.1:{server.port}/healthz", cert or False,
                                                       seconds)
    finally:
        attack.stop()
        server.stop()
    p99 = statistics.quantiles(latencies, n=100)[98]
    return (f"{scheme:5}  attacking connections {len(attack.sockets):4}  answered {answered:4}  failed {failed:3}  "
            f"p50 {statistics.median(latencies) * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for scheme in ("http", "https"):
            print(run(scheme, args.seconds, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
