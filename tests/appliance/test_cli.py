"""The `smsgw` console command, run as a user would run it."""

import os
import re
import subprocess
import sys

import requests

from tests.conftest import wait_until

SMSGW = [sys.executable, "-m", "gateway"]


def run(args, env):
    return subprocess.run(SMSGW + args, env=env, capture_output=True, text=True, timeout=60)


def test_keys_create_list_revoke(tmp_path):
    env = {**os.environ, "SMSGW_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    assert run(["db", "upgrade"], env).returncode == 0
    created = run(["keys", "create", "--name", "billing", "--scopes", "send,read"], env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"smsgw_[A-Za-z0-9_-]{43}", token)
    listing = run(["keys", "list"], env).stdout
    assert "billing" in listing and "send,read" in listing and "active" in listing
    assert token not in listing and token not in (tmp_path / "cli.db").read_bytes().decode("latin-1")
    assert run(["keys", "revoke", "1"], env).returncode == 0
    assert "revoked" in run(["keys", "list"], env).stdout
    bad = run(["keys", "create", "--name", "x", "--scopes", "root"], env)
    assert bad.returncode == 2 and "scopes" in bad.stderr
    queued = run(["send", "--to", "+447911123456", "--body", "from the shell"], env)
    assert queued.returncode == 0 and "queued" in queued.stdout
    assert "queued 1" in run(["status"], env).stdout


def test_demo_starts_modems_and_sends(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    demo = subprocess.Popen(SMSGW + ["demo", "--port", "0", "--var", str(tmp_path / "var"), "--latency-ms", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("admin API key:"):
            line = demo.stdout.readline()
            assert line, "demo exited early"
            lines.append(line.strip())
        token = lines[-1].split()[-1]
        base = re.search(r"API: (\S+)", "\n".join(lines)).group(1)
        headers = {"Authorization": f"Bearer {token}"}
        created = requests.post(f"{base}/messages", json={"to": "+447911123456", "body": "demo"}, headers=headers,
                                timeout=10).json()
        wait_until(lambda: requests.get(f"{base}/messages/{created['id']}", headers=headers,
                                        timeout=10).json()["state"] == "sent")
        modems = requests.get(f"{base}/modems", headers=headers, timeout=10).json()["modems"]
        assert [m["name"] for m in modems] == ["modem1", "modem2"]
        made = [tmp_path / "var", *(tmp_path / "var").rglob("*")]
        assert any(p.name.endswith(".db") for p in made)
        for path in made:  # only the box's user can read what it made: database, WAL, links' folder, …
            if not path.is_symlink():
                assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))
    finally:
        demo.terminate()
        assert demo.wait(timeout=30) == 0
