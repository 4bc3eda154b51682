"""Core figures: dispatch latency, modem utilisation and API enqueue throughput.

The gateway runs as `smsgw run` in its own process (the production server, waitress); the emulated
modems and the HTTP clients run in this process. time.monotonic() is the system-wide CLOCK_MONOTONIC,
so the modem's arrival time of AT+CMGS can be compared with the client's time of the 202. CPU/msg and
CPU/req are the gateway process's CPU time (from /proc) per message sent and per request answered: on a
busy box they move far less than the wall-clock figures.

    .venv/bin/python benchmarks/core.py [--quick] [--database sqlite|postgresql]

With `--database postgresql` the gateway runs on a throwaway PostgreSQL cluster of its own (Debian's
binaries, fsync on, as in production; tests/pg.py), a fresh database per run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fake_modem import FakeModem  # noqa: E402

SMSGW = [sys.executable, "-m", "gateway", "--log-level", "WARNING"]


class Databases:
    """Where each benchmark's gateway keeps its data: a new SQLite file, or a new PostgreSQL database."""

    def __init__(self, kind: str = "sqlite") -> None:
        self.kind = kind
        self._cluster = None

    def new_url(self, tmp: Path) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{tmp / 'bench.db'}"
        if self._cluster is None:
            from tests.pg import PostgresCluster

            self._cluster = PostgresCluster.start(durable=True)
        return self._cluster.create_database(schema=False)

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None


DATABASES = Databases()
LAST_PID = 0  # the newest gateway process (benchmarks/footprint.py reads its /proc)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@contextmanager
def gateway(modems: int = 0, latency_ms: int = 0, threads: int = 8, database_url: str | None = None,
            box: str = "", key_file: Path | None = None):
    """Fake modems here, `smsgw run` in a child process; yields (port, token, fakes). Boxes sharing one
    database share `key_file` (default: box.key in the gateway's own directory)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fakes = [FakeModem(link=str(tmp / f"modem{i}"), latency_ms=latency_ms, seed=i).start()
                 for i in range(1, modems + 1)]
        port = _free_port()
        config = tmp / "config.toml"
        config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {port}\nthreads = {threads}\nbox = "{box}"\n'
            f'[database]\nurl = "{database_url or DATABASES.new_url(tmp)}"\n'
            f'[security]\nkey_file = "{key_file or tmp / "box.key"}"\n'
            f'[messaging]\nmax_recipients = 100000\n'
            + "".join(f'[[modems]]\nname = "{box}modem{i}"\nport = "{f.link}"\n' for i, f in enumerate(fakes, 1)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
        token = subprocess.run(SMSGW + ["keys", "create", "--config", str(config), "--name", "bench",
                                        "--scopes", "send,read,admin"], env=env, check=True, capture_output=True,
                               text=True, cwd=ROOT).stdout.strip().splitlines()[-1]
        proc = subprocess.Popen(SMSGW + ["run", "--config", str(config)], env=env, cwd=ROOT)
        global LAST_PID
        LAST_PID = proc.pid
        try:
            _wait_ready(port, token, modems, box)
            yield port, token, fakes
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            for fake in fakes:
                fake.stop()


def gateway_cpu_s() -> float:
    """CPU seconds (user + system) the newest gateway process has used: a figure the box's noise hardly moves."""
    fields = Path(f"/proc/{LAST_PID}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway_rss_mb() -> float:
    """Resident memory of the newest gateway process, in MB."""
    for line in Path(f"/proc/{LAST_PID}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A keep-alive HTTP client for one thread."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())


def _wait_ready(port: int, token: str, modems: int, box: str = "") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status, body = Client(port, token).call("GET", "/api/v1/modems")
            if status == 200 and sum(m["state"] == "online" and (not box or m["box"] == box)
                                     for m in body["modems"]) == modems:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gateway did not come up")


def wait_all_sent(fakes: list[FakeModem], count: int) -> None:
    """Until the fake modems have taken `count` messages together. It looks seldom: the fakes share this process's
    GIL, and each look copies their lists; the figures come from the modems' own timestamps, not from here."""
    while sum(len(f.sent) for f in fakes) < count:
        time.sleep(0.25)


def sending_window(fakes: list[FakeModem]) -> tuple[float, float]:
    """(the first AT+CMGS, the last part's PDU) across `fakes`: commands after it (a storage sweep, a health poll
    while the benchmark notices the end) are not sending time."""
    def last_pdu(fake: FakeModem) -> float:
        commands = fake.timed_commands
        last_cmgs = max(i for i, (_, line) in enumerate(commands) if line.upper().startswith("AT+CMGS="))
        return commands[last_cmgs + 1][0]
    return min(_cmgs_times(f)[0] for f in fakes), max(last_pdu(f) for f in fakes)


def steady_share(fakes: list[FakeModem], since: float, last: float, latency_s: float) -> float:
    """The modems' busy share, in %, from `since` (the last message accepted: the queue is full) to `last` (the
    last PDU): the submits begun after `since`, a latency of work each, against all the modems' time. It leaves
    out the start, while the API is still taking the load in the same process. A modem caught mid-send at
    `since` counts as idle until its next submit, so the figure errs low."""
    sends = sum(1 for f in fakes for t in _cmgs_times(f) if t >= since)
    return 100 * sends * latency_s / (len(fakes) * (last - since + latency_s))


def _cmgs_times(fake: FakeModem) -> list[float]:
    return [t for t, line in fake.timed_commands if line.upper().startswith("AT+CMGS=")]


def dispatch_latency(samples: int) -> dict:
    """202 received by the client → AT+CMGS arriving at an idle modem."""
    with gateway(modems=1) as (port, token, [fake]):
        client = Client(port, token)
        latencies = []
        for i in range(samples):
            seen = len(_cmgs_times(fake))
            status, _ = client.call("POST", "/api/v1/messages", {"to": "+447911123456", "body": f"otp {i}"})
            answered = time.monotonic()
            assert status == 202
            fake.wait_for(lambda f: len(_cmgs_times(f)) > seen and len(f.sent) > i, 10)
            latencies.append((_cmgs_times(fake)[seen] - answered) * 1000)
            time.sleep(0.02)  # let the worker go idle again
    return {"median_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99), "n": samples}


def utilisation(modems: int, latency_s: float, seconds: float) -> dict:
    """Messages per minute through `modems` modems that each take `latency_s` per send."""
    count = max(modems, int(modems * seconds / latency_s))
    with gateway(modems=modems, latency_ms=int(latency_s * 1000)) as (port, token, fakes):
        client = Client(port, token)
        numbers = [f"+4479111{i:05d}" for i in range(count)]
        for start in range(0, count, 1000):
            status, _ = client.call("POST", "/api/v1/messages", {"to": numbers[start:start + 1000], "body": "x"})
            assert status == 202
        accepted, cpu_s = time.monotonic(), gateway_cpu_s()
        wait_all_sent(fakes, count)
        cpu_s = gateway_cpu_s() - cpu_s
        first, last = sending_window(fakes)
        steady = steady_share(fakes, accepted, last, latency_s)
        elapsed = last - first + latency_s  # the last submit still takes one latency to answer
    rate = count / elapsed * 60
    ideal = modems * 60 / latency_s
    return {"modems": modems, "latency_s": latency_s, "messages": count, "per_min": rate, "ideal": ideal,
            "pct": 100 * rate / ideal, "steady_pct": steady,
            "overhead_ms": (elapsed * modems / count - latency_s) * 1000, "cpu_ms": cpu_s / count * 1000}


def enqueue(clients: int, seconds: float, recipients: int = 1) -> dict:
    """POST /api/v1/messages as fast as `clients` keep-alive clients can, for `seconds`."""
    with gateway(modems=0) as (port, token, _):
        latencies: list[float] = []
        errors = []
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds
        numbers = [f"+4479111{i:05d}" for i in range(recipients)]

        def run():
            client = Client(port, token)
            mine = []
            body = {"to": numbers if recipients > 1 else numbers[0], "body": "Your code is 123456"}
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                status, _ = client.call("POST", "/api/v1/messages", body)
                mine.append((time.perf_counter() - t0) * 1000)
                if status != 202:
                    errors.append(status)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=run) for _ in range(clients)]
        started, cpu_s = time.monotonic(), gateway_cpu_s()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed, cpu_s = time.monotonic() - started, gateway_cpu_s() - cpu_s
    return {"clients": clients, "recipients": recipients, "rps": len(latencies) / elapsed,
            "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 99), "errors": len(errors),
            "cpu_ms": cpu_s / len(latencies) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter runs")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    seconds = 5 if args.quick else 15
    DATABASES.kind = args.database
    print(f"database: {args.database}", flush=True)
    try:
        run(args.quick, seconds)
    finally:
        DATABASES.close()


def run(quick: bool, seconds: float) -> None:

    d = dispatch_latency(50 if quick else 300)
    print(f"dispatch latency (202 → AT+CMGS, idle modem, n={d['n']}): median {d['median_ms']:.1f} ms, "
          f"p99 {d['p99_ms']:.1f} ms   [target: median < 20 ms, p99 < 100 ms]", flush=True)

    print("\nmodem utilisation            messages/min   ideal   % of ideal  steady  overhead/msg  CPU/msg   "
          "[target ≥98 % at 1 s, ≥90 % at 0.1 s]")
    for latency_s in (1.0, 0.1):
        for modems in (1, 4, 16):
            u = utilisation(modems, latency_s, seconds)
            print(f"  {modems} modem(s) at {latency_s:>4} s   {u['per_min']:>10.1f}  {u['ideal']:>6.0f}   "
                  f"{u['pct']:>8.1f} %  {u['steady_pct']:>5.1f} %  {u['overhead_ms']:>8.1f} ms  "
                  f"{u['cpu_ms']:>5.2f} ms   ({u['messages']} messages)", flush=True)

    print("\nAPI enqueue (smsgw run, waitress)   req/s    p50 ms   p99 ms  errors  CPU/req   [target ≥500 req/s with 8 "
          "clients, p99 < 25 ms]")
    for clients, recipients in ((1, 1), (8, 1), (1, 100), (8, 100)):
        e = enqueue(clients, seconds, recipients)
        print(f"  {clients} client(s), {recipients:>3} recipient(s)   {e['rps']:>8.1f}  {e['p50_ms']:>7.2f}  "
              f"{e['p99_ms']:>7.2f}  {e['errors']:>6}  {e['cpu_ms']:>4.2f} ms", flush=True)


if __name__ == "__main__":
    main()
