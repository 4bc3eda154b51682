"""sd_notify over a real unix datagram socket bound as $NOTIFY_SOCKET: READY=1 at start, WATCHDOG=1 while the
process's loops are healthy, and silence while a modem worker is stuck (systemd then restarts the service)."""

from __future__ import annotations

import dataclasses
import os
import socket
import time

import pytest

from gateway.appliance.watchdog import Watchdog, notify, watchdog_interval_s
from tests.conftest import wait_until


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.05)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()


def received(sock, within_s: float) -> list[str]:
    """Every datagram that arrives within `within_s`."""
    messages, deadline = [], time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            messages.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
    return messages


def wait_message(sock, wanted: str, timeout_s: float = 5.0) -> None:
    wait_until(lambda: wanted in received(sock, 0.1), timeout_s)


def test_notify_reaches_the_socket_and_is_a_no_op_without_one(notify_socket):
    assert notify("READY=1")
    assert notify_socket.recv(100) == b"READY=1"
    assert notify("READY=1", environ={}) is False


def test_notify_to_an_abstract_socket():
    name = f"smsgw-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"WATCHDOG=1"


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process_only():
    assert watchdog_interval_s({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}) == 10.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None


def test_watchdog_pings_only_while_healthy(notify_socket):
    problem = [None]
    dog = Watchdog(0.05, lambda: problem[0]).start()
    try:
        wait_message(notify_socket, "WATCHDOG=1")
        problem[0] = "stuck"
        received(notify_socket, 0.1)  # let a ping already in flight land
        assert received(notify_socket, 0.3) == []
        problem[0] = None
        wait_message(notify_socket, "WATCHDOG=1")
    finally:
        dog.stop()


def test_gateway_says_ready_pings_and_stops_pinging_while_a_worker_is_stuck(notify_socket, monkeypatch,
                                                                             gateway_factory, settings):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping every 0.1 s
    pool = dataclasses.replace(settings.pool, stuck_after_s=0.5, command_timeout_s=3.0, send_timeout_s=3.0)
    gateway, [fake], _ = gateway_factory(1, settings_override=settings.replace(pool=pool))
    wait_message(notify_socket, "READY=1")
    wait_until(lambda: gateway.store.modems.list_modems()[0].state.value == "online")
    wait_message(notify_socket, "WATCHDOG=1")
    fake.hang(True)  # the modem stops answering in the middle of a send: the worker waits in AT+CMGS
    gateway.service.messages.send("+447911123456", "into the void")
    wait_until(lambda: gateway.health_problem() is not None, timeout_s=5)
    assert "stuck" in gateway.health_problem()
    received(notify_socket, 0.15)  # a ping already in flight
    silence = received(notify_socket, 0.4)
    assert gateway.health_problem() is not None and "WATCHDOG=1" not in silence  # still stuck, no ping
    fake.hang(False)  # the send times out, the worker reconnects: healthy again
    wait_message(notify_socket, "WATCHDOG=1", timeout_s=10)
    gateway.stop()
    assert "STOPPING=1" in received(notify_socket, 0.2)
