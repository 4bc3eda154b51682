"""No client can stall the server: idle, half-open (a partial TLS hello) and slow-header connections from several
loopback addresses, well past the per-address cap, plus a flood from an address outside `allow_from`, while a
legitimate client on another address keeps getting answers, over HTTP and HTTPS."""

from __future__ import annotations

import socket
import ssl
import statistics
import threading
import time

import pytest
import requests

from gateway.appliance.server import HttpServer
from gateway.appliance.tls import make_selfsigned
from gateway.clock import utcnow

ATTACKERS = [f"127.0.0.{i}" for i in range(2, 6)]  # allowed addresses that misbehave
OUTSIDER = "127.0.0.7"  # not in allow_from
LEGITIMATE = "127.0.0.9"
CAP = 8  # per address, small so the test goes well past it cheaply


def app(environ, start_response):
    body = b'{"status": "ok"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class Attack:
    """Misbehaving connections, opened and kept open (slow ones trickle a byte a second) until `stop`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def connect(self, source: str) -> socket.socket | None:
        s = socket.socket()
        s.settimeout(2)
        s.bind((source, 0))
        try:
            s.connect(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return None
        self.sockets.append(s)
        return s

    def open(self) -> None:
        for source in ATTACKERS:
            for _ in range(3 * CAP):  # idle: connect, say nothing
                self.connect(source)
        for source in ATTACKERS:
            for _ in range(CAP):  # half-open: the start of a TLS hello or of a request line, then nothing
                s = self.connect(source)
                if s is not None:
                    try:
                        s.send(b"\x16\x03\x01\x02\x00\x01\x00" if len(self.sockets) % 2 else b"GET / HT")
                    except OSError:
                        pass
            thread = threading.Thread(target=self._trickle, args=(source,), daemon=True)
            thread.start()
            self._threads.append(thread)
        for _ in range(5 * CAP):  # an address the box refuses
            self.connect(OUTSIDER)

    def _trickle(self, source: str) -> None:
        slow = [s for s in (self.connect(source) for _ in range(CAP)) if s is not None]
        header = b"GET /slow HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200
        for byte in header:
            if self._stop.wait(1.0):
                return
            for s in slow:
                try:
                    s.send(bytes([byte]))
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        for s in self.sockets:
            s.close()


def legitimate_calls(url: str, verify: str | bool, seconds: float) -> tuple[int, int, list[float]]:
    """Calls from LEGITIMATE for `seconds`, one connection each: (answered, failed, latencies in s)."""
    answered, failed, latencies = 0, 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        session = requests.Session()
        session.mount("http://", _SourceAdapter(LEGITIMATE))
        session.mount("https://", _SourceAdapter(LEGITIMATE))
        started = time.monotonic()
        try:
            response = session.get(url, timeout=3, verify=verify)
            ok = response.status_code == 200
        except requests.RequestException:
            ok = False
        finally:
            session.close()
        latencies.append(time.monotonic() - started)
        answered, failed = answered + ok, failed + (not ok)
        time.sleep(0.05)
    return answered, failed, latencies


class _SourceAdapter(requests.adapters.HTTPAdapter):
    """Connections from a given loopback source address."""

    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


@pytest.fixture(params=["http", "https"])
def served(request, tmp_path):
    cert = key = ""
    if request.param == "https":
        cert_path, key_path = make_selfsigned(tmp_path / "tls", "smsgw-test", now=utcnow())
        cert, key = str(cert_path), str(key_path)
    server = HttpServer(app, "127.0.0.1", 0, 4, allow_from=["127.0.0.1/32", "127.0.0.2/31", "127.0.0.4/31",
                                                           "127.0.0.9/32"],
                        max_per_address=CAP, header_timeout_s=3, tls_cert=cert, tls_key=key)
    server.start()
    yield request.param, server.port, cert or False
    server.stop()


def test_a_legitimate_client_is_answered_throughout_an_attack(served):
    scheme, port, verify = served
    url = f"{scheme}://127.0.0.1:{port}/healthz"
    attack = Attack(port)
    try:
        attack.open()
        answered, failed, latencies = legitimate_calls(url, verify, seconds=6)  # past the 3 s head timeout too
    finally:
        attack.stop()
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
    print(f"{scheme}: {answered} answered, {failed} failed, p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, {len(attack.sockets)} attacking connections")
    assert failed == 0 and answered >= 20
    assert p99 < 1.0


def test_slow_and_idle_connections_are_closed_at_the_head_timeout_and_refused_past_the_cap(served):
    scheme, port, _ = served
    attack = Attack(port)
    try:
        idle = [attack.connect("127.0.0.2") for _ in range(CAP)]
        assert all(idle)
        extra = attack.connect("127.0.0.2")  # over the cap: accepted by the kernel, closed by the server
        assert extra is not None and extra.recv(1) == b""
        outsider = attack.connect(OUTSIDER)
        assert outsider is not None and outsider.recv(1) == b""  # closed at accept, before any TLS
        time.sleep(3 + 2.5)  # the head timeout, and the maintenance pass after it
        for s in idle:
            assert s is not None
            s.settimeout(2)
            assert s.recv(1) == b"", "an idle connection outlived the head timeout"
        again = attack.connect("127.0.0.2")  # the closed ones no longer count against the cap
        assert again is not None
        again.settimeout(0.5)
        with pytest.raises(socket.timeout):
            again.recv(1)
    finally:
        attack.stop()


@pytest.mark.parametrize("served", ["https"], indirect=True)
def test_tls_still_serves_after_garbage_and_a_plain_http_request(served):
    _, port, verify = served
    with socket.create_connection(("127.0.0.1", port), timeout=3) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = plain.recv(100)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/")  # closed, or a TLS alert: never served in plain text
    context = ssl.create_default_context(cafile=verify)
    with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"status": "ok"}')
