"""The first hour: `smsgw demo` as a newcomer runs it, twice by mistake, with the README's shell commands beside
it. One line for every mistake, nothing of the running demo touched, credentials that last, inbound on demand."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import wait_until

# the CLI here is given no config: these tests wait (the timeout allows for it) while the package test runs
pytestmark = [pytest.mark.usefixtures("without_system_config"), pytest.mark.timeout(600)]

SMSGW = [sys.executable, "-m", "gateway"]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}


def smsgw(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SMSGW, *args], env=ENV, cwd=cwd, capture_output=True, text=True, timeout=60)


class Demo:
    """A running `smsgw demo` in `cwd` (its ./var), read from its banner."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.process = subprocess.Popen([*SMSGW, "demo", "--latency-ms", "0", *args], env=ENV, cwd=cwd,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.banner: list[str] = []
        while not self.banner or not self.banner[-1].startswith("admin API key:"):
            line = self.process.stdout.readline()
            assert line, f"demo exited early: {self.banner}"
            self.banner.append(line.rstrip())
        self.token = self.banner[-1].split()[-1]
        self.api = re.search(r"API: (\S+)", "\n".join(self.banner)).group(1)
        self.password = re.search(r"admin password: (\S+)", "\n".join(self.banner)).group(1)
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str):
        return requests.get(f"{self.api}{path}", headers=self.headers, timeout=10).json()

    def stop(self) -> None:
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0


@pytest.fixture
def demo(tmp_path):
    started: list[Demo] = []

    def start(*args: str) -> Demo:
        started.append(Demo(tmp_path, "--port", "0", *args))
        return started[-1]

    yield start
    for running in started:
        if running.process.poll() is None:
            running.stop()


def test_a_second_demo_in_the_same_directory_says_so_and_touches_nothing(demo, tmp_path):
    first = demo()
    wait_until(lambda: {m["state"] for m in first.get("/modems")["modems"]} == {"online"})
    links = sorted(p.name for p in (tmp_path / "var" / "modems").iterdir())
    second = smsgw("demo", "--port", "0", cwd=tmp_path)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    [line] = second.stderr.strip().splitlines()
    assert f"a demo already runs from {tmp_path / 'var'} (pid {first.process.pid}, http://localhost:" in line
    assert "make run PORT=8081 VAR=var2" in line
    assert sorted(p.name for p in (tmp_path / "var" / "modems").iterdir()) == links
    assert {m["state"] for m in first.get("/modems")["modems"]} == {"online"}  # its modems untouched
    page, base = requests.Session(), first.api.removesuffix("/api/v1")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get(f"{base}/login", timeout=10).text).group(1)
    opened = page.post(f"{base}/login", data={"password": first.password, "csrf_token": csrf}, timeout=10)
    assert opened.url == f"{base}/"  # its password still opens the page
    assert [k for k in smsgw("keys", "list", cwd=tmp_path).stdout.splitlines() if "demo-admin" in k][0]


def test_a_taken_port_is_said_in_one_line_before_anything_is_made(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = smsgw("demo", "--port", str(port), "--var", "elsewhere", cwd=tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip() == (f"smsgw: port {port} on 127.0.0.1 is taken by another program: pick another, "
                                      f"e.g. make run PORT={port + 1} (or smsgw demo --port {port + 1})")
    assert not (tmp_path / "elsewhere" / "modems").exists() and not (tmp_path / "elsewhere" / "smsgw.db").exists()


def test_a_restarted_demo_keeps_its_key_and_password_and_an_sms_arrives_on_request(demo, tmp_path):
    first = demo()
    first.stop()
    again = demo()
    assert (again.token, again.password) == (first.token, first.password)
    credentials = tmp_path / "var" / "demo-credentials"
    assert credentials.stat().st_mode & 0o777 == 0o600 and again.token in credentials.read_text()
    keys = [k for k in smsgw("keys", "list", cwd=tmp_path).stdout.splitlines() if "demo-admin" in k]
    assert len(keys) == 1 and keys[0].endswith("active")  # no second admin key

    injected = smsgw("demo", "inject", "--from", "+447911123456", "--text", "Is it still on?", cwd=tmp_path)
    assert injected.returncode == 0 and "arrived on modem1" in injected.stdout, injected.stderr
    wait_until(lambda: [m["text"] for m in again.get("/inbox")["messages"]] == ["Is it still on?"])
    refused = smsgw("demo", "inject", "--from", "not a number!", "--text", "x", cwd=tmp_path)
    assert refused.returncode == 1 and "'from' must be a phone number" in refused.stderr


def test_cli_commands_find_the_demos_database_or_say_in_one_line_where_to_look(demo, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    default = Path("/var/lib/smsgw/smsgw.db")
    existed = default.exists()
    lost = smsgw("status", cwd=elsewhere)
    assert lost.returncode == 2 and "Traceback" not in lost.stderr and len(lost.stderr.strip().splitlines()) == 1
    assert "no database at /var/lib/smsgw/smsgw.db" in lost.stderr and "make run" in lost.stderr
    assert default.exists() == existed  # no empty database made where none was
    demo()
    status = smsgw("status", cwd=tmp_path)
    assert status.returncode == 0 and "modem1" in status.stdout
    assert "using the demo's database var/smsgw.db" in status.stderr


def test_version(tmp_path):
    shown = smsgw("--version", cwd=tmp_path)
    assert shown.returncode == 0 and re.fullmatch(r"smsgw \d+\.\d+\.\d+\S*\n", shown.stdout)
