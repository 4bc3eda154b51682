"""The Debian package (systemd/deb/, `make deb`), as a user meets it: built on this machine, installed with apt
from the file alone, the previous release upgraded with messages queued, then removed and purged.

"Offline" is proved, not assumed: apt and pip (and anything else the maintainer scripts might run) are pointed at
a proxy on a loopback port where nothing listens, so any download would fail the install. With no systemd here
(a container), the test starts and stops `smsgw run` from the installed files as the unit would (as the smsgw
user, with the config in /etc/smsgw).

Root only: the package goes into this machine's /opt, /etc and /var/lib. The test refuses to touch an smsgw
package it did not install, and purges its own at the end whatever happens."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from fake_modem import reassemble
from gateway.store import migrate
from tests.appliance.test_failed_migration import BROKEN
from tests.conftest import system_paths, wait_until
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "systemd" / "deb" / "build.py"
PREVIOUS_RELEASE = ("0.1.0", "3f04527")  # the last commit of release 0.1.0 (schema 0014)
DEAD_PROXY = "http://127.0.0.1:9"  # discard port: nothing listens, so a download attempt fails at once
OFFLINE = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive",
           "http_proxy": DEAD_PROXY, "https_proxy": DEAD_PROXY, "PIP_INDEX_URL": f"{DEAD_PROXY}/simple"}
APT = ["apt-get", "-y", "-q", "-o", f"Acquire::http::Proxy={DEAD_PROXY}", "-o", f"Acquire::https::Proxy={DEAD_PROXY}",
       "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
CONFIG = Path("/etc/smsgw/config.toml")
STATE = Path("/var/lib/smsgw")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="installs a package: root only (CI runs as root)"),
    pytest.mark.skipif(not shutil.which("dpkg-deb") or not shutil.which("apt-get"), reason="not a Debian machine"),
]


def installed_version() -> str | None:
    shown = subprocess.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", "smsgw"], capture_output=True,
                           text=True)
    words = shown.stdout.split()
    return words[-1] if shown.returncode == 0 and "installed" in words else None


def package_known() -> bool:
    """Whether dpkg knows smsgw in any state (installed, half-installed, config files left)."""
    shown = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "smsgw"], capture_output=True,
                           text=True)
    return shown.returncode == 0 and shown.stdout.strip() not in ("", "un", "pn")


def build(source: Path, arch: str, out: Path) -> Path:
    done = subprocess.run([sys.executable, str(BUILD), "--source", str(source), "--arch", arch, "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def apt(*args: str) -> str:
    done = subprocess.run([*APT, *args], env=OFFLINE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def install_previous(deb: Path) -> str:
    """`apt install` of the previous release. Its postinst passed a random password as `--password <pw>`, and one
    that starts with "-" (1 in 64) is taken for an option: then it is configured again, with a new password."""
    done = subprocess.run([*APT, "install", str(deb)], env=OFFLINE, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "--password: expected one argument" in done.stdout + done.stderr:
        done = subprocess.run(["dpkg", "--configure", "smsgw"], env=OFFLINE, capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def as_smsgw(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "smsgw", "--", "/usr/bin/smsgw", *args, "--config", str(CONFIG)],
                          env=OFFLINE, capture_output=True, text=True, timeout=timeout)


class Box:
    """`smsgw run` from the installed files, as the unit starts it (as smsgw, the config in /etc/smsgw)."""

    def __init__(self, port: int, log: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait until it answers; the time it answered."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(["runuser", "-u", "smsgw", "--", "/usr/bin/smsgw", "run", "--config",
                                             str(CONFIG)], env=OFFLINE, stdout=out, stderr=subprocess.STDOUT)
        wait_until(self._answers, timeout_s=60, interval_s=0.05)
        return time.monotonic()

    def _answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
        try:
            requests.get(f"{self.base}/healthz", timeout=2)  # 503 while no modem is online: answering is enough
            return True
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # runuser passes it on, as systemd's KillSignal would
            self.process.wait(timeout=60)
        self.process = None


def api(key: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session


def write_config(port: int, modem_devices: list[str]) -> None:
    modems = "".join(f'\n[[modems]]\nname = "modem{i}"\nport = "{device}"\n'
                     for i, device in enumerate(modem_devices, start=1))
    CONFIG.write_text(f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n[database]\n'
                      f'url = "sqlite:///{STATE}/smsgw.db"\n\n[webhooks]\nallow = ["127.0.0.0/8"]\n{modems}')


@pytest.fixture
def box(tmp_path):
    """The installed box, stopped at the end of the test whatever happened."""
    box = Box(free_port(), tmp_path / "box.log")
    yield box
    box.stop()


@pytest.fixture
def package_slot():
    """This machine's smsgw package slot: empty before the test, purged after it."""
    with system_paths(exclusive=True):
        if package_known() or Path("/etc/smsgw").exists() or Path("/var/lib/smsgw").exists():
            pytest.skip("this machine has an smsgw package or its files (dpkg --purge smsgw first); this test "
                        "would replace them")
        try:
            yield
        finally:
            if package_known():
                subprocess.run(["dpkg", "--purge", "smsgw"], env=OFFLINE, capture_output=True, timeout=120)


@pytest.mark.timeout(900)  # three builds and four installs; pytest-timeout's kill would leave the package behind
def test_the_package_installs_offline_upgrades_with_queued_messages_and_purges(tmp_path, modem_links, package_slot,
                                                                                box):
    version, commit = PREVIOUS_RELEASE
    if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"]).returncode != 0:
        pytest.skip(f"release {version}'s commit {commit} is not in this clone's history")
    previous_tree = tmp_path / "previous"
    previous_tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(previous_tree)], input=archive, check=True)
    current_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    trees = {"previous": previous_tree, "current": ROOT,
             "broken": broken_release(tmp_path / "broken", current_version)}
    with ThreadPoolExecutor() as builders:  # the builds mostly wait on pip
        built = dict(zip(trees, builders.map(lambda name: build(trees[name], "amd64", tmp_path / f"{name}-dist"),
                                             trees)))
    previous, current, broken = built["previous"], built["current"], built["broken"]
    port = int(box.base.rsplit(":", 1)[1])

    # the previous release: installed offline, its admin credentials made once and kept for root
    said = install_previous(previous)
    assert installed_version() == version, said
    credentials = Path("/etc/smsgw/initial-credentials")
    assert credentials.stat().st_mode & 0o777 == 0o600
    key = credentials.read_text().split("admin API key: ")[1].split()[0]
    assert key in said
    write_config(port, [])  # no modems yet: what it accepts stays queued
    box.start()
    old = api(key)
    queued = [old.post(f"{box.base}/api/v1/messages", json={"to": f"+4479111234{i:02d}", "body": f"queued {i}"},
                       timeout=10).json()["id"] for i in range(5)]
    hook = old.post(f"{box.base}/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook",
                                                         "events": ["message.sent"]}, timeout=10)
    assert hook.status_code == 201, hook.text
    box.stop()
    stopped = time.monotonic()

    # the upgrade: the database copied, then migrated; the old venv gone; config, key, webhook and messages kept
    config_before = CONFIG.read_text()
    said = apt("install", str(current))
    assert installed_version() == current_version
    assert "copied the database to" in said
    assert list((STATE / f"before-{current_version}").glob("smsgw-*.sqlite"))
    assert os.readlink("/opt/smsgw/venv") == f"venvs/{current_version}"
    assert [p.name for p in Path("/opt/smsgw/venvs").iterdir()] == [current_version]
    assert CONFIG.read_text() == config_before
    version_said = subprocess.run(["/usr/bin/smsgw", "--version"], env=OFFLINE, capture_output=True, text=True)
    assert version_said.stdout.split() == ["smsgw", current_version]

    fakes = modem_links(1)
    os.chmod(fakes[0].device, 0o666)  # the pty is root's; the box runs as smsgw (dialout, in real life)
    write_config(port, [fakes[0].device])
    answered = box.start()
    new = api(key)
    wait_until(lambda: {new.get(f"{box.base}/api/v1/messages/{uid}", timeout=10).json()["state"]
                        for uid in queued} == {"sent"}, timeout_s=30)
    downtime = answered - stopped
    print(f"upgrade {version} → {current_version}: {downtime:.1f} s from the old box stopped to the new one "
          "answering")
    assert sorted(text for _, text in reassemble(fakes[0].sent)) == [f"queued {i}" for i in range(5)]
    hooks = new.get(f"{box.base}/api/v1/webhooks", timeout=10).json()["webhooks"]
    assert [h["url"] for h in hooks] == ["http://127.0.0.1:9/hook"]

    # send and receive on the installed release; the doctor finds nothing wrong
    sent = new.post(f"{box.base}/api/v1/messages", json={"to": "+447911123499", "body": "from the package"},
                    timeout=10).json()
    wait_until(lambda: new.get(f"{box.base}/api/v1/messages/{sent['id']}", timeout=10).json()["state"] == "sent")
    fakes[0].inject_sms("+447911123456", "a reply to the package")
    wait_until(lambda: [m["text"] for m in new.get(f"{box.base}/api/v1/inbox", timeout=10).json()["messages"]]
               == ["a reply to the package"])
    doctor = as_smsgw("doctor")
    assert doctor.returncode == 0 and "all checks passed" in doctor.stdout, doctor.stdout + doctor.stderr
    box.stop()

    # a release whose migration fails: apt says so, and the installed release runs on, on the unchanged database
    failed = subprocess.run([*APT, "install", str(broken)], env=OFFLINE, capture_output=True, text=True, timeout=300)
    assert failed.returncode != 0 and "could not be migrated" in failed.stdout + failed.stderr, failed.stdout
    assert os.readlink("/opt/smsgw/venv") == f"venvs/{current_version}"
    assert [p.name for p in Path("/opt/smsgw/venvs").iterdir()] == [current_version]
    box.start()
    assert new.get(f"{box.base}/api/v1/messages/{sent['id']}", timeout=10).json()["state"] == "sent"
    box.stop()

    # remove keeps the data and the config; purge takes them
    apt("remove", "smsgw")
    assert not Path("/opt/smsgw").exists() and not Path("/usr/bin/smsgw").exists()
    assert (STATE / "smsgw.db").exists() and CONFIG.exists()
    purged = subprocess.run(["dpkg", "--purge", "smsgw"], env=OFFLINE, capture_output=True, text=True, timeout=120)
    assert purged.returncode == 0, purged.stderr
    assert not STATE.exists() and not Path("/etc/smsgw").exists()


def broken_release(tree: Path, version: str) -> Path:
    """This checkout as a later release whose last migration fails (the drill of test_failed_migration)."""
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".*", "var", "dist", "build", "*.egg-info",
                                                               "__pycache__", "tests", "benchmarks"))
    pyproject = tree / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(f'version = "{version}"', f'version = "{version}.post1"', 1))
    (tree / "gateway/store/migrations/versions/9999_drill.py").write_text(BROKEN.format(head=migrate.head_revision()))
    return tree


@pytest.mark.timeout(300)
def test_the_arm64_package_carries_only_arm64_or_pure_wheels_and_the_amd64_files(tmp_path):
    amd64 = build(ROOT, "amd64", tmp_path / "amd64")
    arm64 = build(ROOT, "arm64", tmp_path / "arm64")
    files = {}
    for package in (amd64, arm64):
        listing = subprocess.run(["dpkg-deb", "--contents", str(package)], capture_output=True, text=True,
                                 check=True).stdout
        files[package] = {line.split()[5] for line in listing.splitlines()}
        fields = subprocess.run(["dpkg-deb", "--field", str(package), "Architecture"], capture_output=True,
                                text=True, check=True).stdout.strip()
        assert package.name.endswith(f"_{fields}.deb")
    wheels = {package: {Path(f).name for f in names if f.endswith(".whl")} for package, names in files.items()}
    for name in wheels[arm64]:
        tags = name[:-4].split("-")[-3:]
        assert tags[2] == "any" or all(p.endswith("aarch64") for p in tags[2].split(".")), name
    assert any("aarch64" in name for name in wheels[arm64])

    def project(name: str) -> str:  # a wheel's project and version, without its platform tags
        return "-".join(name.split("-")[:2])

    assert {project(n) for n in wheels[amd64]} == {project(n) for n in wheels[arm64]}
    assert {f for f in files[amd64] if not f.endswith(".whl")} == {f for f in files[arm64] if not f.endswith(".whl")}


@pytest.mark.skipif(not shutil.which("lintian"), reason="lintian missing (CI installs it: .ci/run)")
@pytest.mark.timeout(300)
def test_lintian_finds_no_error_and_no_warning_in_the_package(tmp_path):
    package = build(ROOT, "amd64", tmp_path)
    said = subprocess.run(["lintian", "--tag-display-limit", "0", str(package)], capture_output=True, text=True,
                          timeout=300)
    tags = [line for line in said.stdout.splitlines() if line.startswith(("E:", "W:"))]
    assert tags == [] and said.returncode == 0, said.stdout + said.stderr
