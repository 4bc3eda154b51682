"""The Debian package's figures: sizes (amd64, arm64), a first install's time, and an upgrade's downtime with
`--queued` messages waiting (root only: it installs into this machine, then purges).

The upgrade goes from the previous release (0.1.0) to this checkout. This machine has no running systemd, so
the benchmark stops and starts `smsgw run` itself around `apt install`, and the postinst's venv is made while
the box is down. Under systemd the old release keeps serving while the venv is made and is stopped only to
migrate and switch: that downtime is printed too (stop + apt install − making the venv + start).

    sudo .venv/bin/python benchmarks/deb.py [--queued 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.appliance.test_deb import (PREVIOUS_RELEASE, Box, api, apt, build, installed_version,  # noqa: E402
                                      write_config)
from tests.conftest import system_paths  # noqa: E402
from tests.ports import free_port  # noqa: E402


def timed(action) -> tuple[float, object]:
    start = time.monotonic()
    result = action()
    return time.monotonic() - start, result


def purge() -> None:
    subprocess.run(["dpkg", "--purge", "smsgw"], capture_output=True, timeout=120)


def making_the_venv(package: Path, work: Path) -> float:
    """The postinst's venv step alone, from the package's wheels into a scratch directory."""
    subprocess.run(["dpkg-deb", "-x", str(package), str(work / "root")], check=True)
    version = package.name.split("_")[1]
    start = time.monotonic()
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(work / "venv")], check=True)
    subprocess.run([str(work / "venv/bin/python"), "-m", "pip", "--isolated", "install", "-q", "--no-index",
                    "--find-links", str(work / "root/usr/lib/smsgw/wheels"), f"smsgw=={version}"], check=True)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=1000)
    args = parser.parse_args()
    with system_paths(exclusive=True), tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        if installed_version() is not None:
            raise SystemExit("an smsgw package is installed here: purge it first")
        version, commit = PREVIOUS_RELEASE
        (work / "previous").mkdir()
        tree = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(work / "previous")], input=tree, check=True)
        packages = {arch: build(ROOT, arch, work / arch) for arch in ("amd64", "arm64")}
        previous = build(work / "previous", "amd64", work / "previous-dist")
        for arch, package in packages.items():
            print(f"package {package.name}: {package.stat().st_size / 1e6:.1f} MB")

        seconds, _ = timed(lambda: apt("install", str(packages["amd64"])))
        print(f"first install (apt install ./{packages['amd64'].name}, offline): {seconds:.1f} s")
        purge()

        try:
            apt("install", str(previous))
            key = Path("/etc/smsgw/initial-credentials").read_text().split("admin API key: ")[1].split()[0]
            box = Box(free_port(), work / "box.log")
            write_config(int(box.base.rsplit(":", 1)[1]), [])
            box.start()
            session = api(key)
            for start in range(0, args.queued, 500):
                numbers = [f"+4479112{n:05d}" for n in range(start, min(start + 500, args.queued))]
                answer = session.post(f"{box.base}/api/v1/messages", json={"to": numbers, "body": "queued"},
                                      timeout=60)
                assert answer.status_code == 202, answer.text
            stopped_in, _ = timed(box.stop)
            upgraded_in, _ = timed(lambda: apt("install", str(packages["amd64"])))
            started_in, _ = timed(box.start)
            box.stop()
            venv = making_the_venv(packages["amd64"], work)
            print(f"upgrade {version} → {packages['amd64'].name.split('_')[1]} with {args.queued} queued: "
                  f"stop {stopped_in:.1f} s, apt install {upgraded_in:.1f} s (of which the venv {venv:.1f} s), "
                  f"start {started_in:.1f} s")
            print(f"downtime here (no systemd): {stopped_in + upgraded_in + started_in:.1f} s; under systemd "
                  f"(the venv made while the old release serves): {stopped_in + upgraded_in - venv + started_in:.1f} s")
        finally:
            purge()


if __name__ == "__main__":
    main()
