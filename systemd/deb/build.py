"""Build the Debian package of smsgw (`make deb`, `make deb ARCH=arm64`): dist/smsgw_<version>_<arch>.deb.

The package carries the smsgw wheel and every dependency as wheels for the target architecture under
/usr/lib/smsgw/wheels; its postinst makes the program's venv (/opt/smsgw) from them with pip's index off, so
`apt install ./smsgw_*.deb` needs no network. Building needs pip's index (the wheels are downloaded here, for
either architecture: none is compiled). See docs/install.md.

    python3 systemd/deb/build.py [--arch amd64|arm64] [--source DIR] [--out DIR]

Lintian reports no error or warning. It notes (I:) package-supports-alternative-init-but-no-init.d-script: the
box runs under systemd only (Type=notify with a watchdog), as Debian 12 and Raspberry Pi OS do.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
GLIBC = 36  # Debian 12 / Raspberry Pi OS (bookworm) has glibc 2.36: manylinux wheels up to it run there
PYTHON = ("3.11", "cp311")  # bookworm's python3; the package depends on exactly that minor version
MAINTAINER = "smsgw maintainers <maintainers@smsgw.invalid>"


def build(source: Path, arch: str, out: Path) -> Path:
    """Build the package for `arch` from the checkout at `source` into `out`; returns its path."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    version = project["version"]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smsgw-deb-") as work:
        root = Path(work, "root")
        wheels = root / "usr/lib/smsgw/wheels"
        _collect_wheels(source, arch, wheels, Path(work, "build"))
        _lay_out(source, root, version)
        _write_control(root, version, arch)
        target = out / f"smsgw_{version}_{arch}.deb"
        # gzip: the wheels are zip files already; xz spends 12 s to save 0.2 %
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", str(root), str(target)],
                       check=True, stdout=subprocess.DEVNULL)
    return target


def _collect_wheels(source: Path, arch: str, wheels: Path, build_dir: Path) -> None:
    """smsgw's wheel (built from `source`) and its dependencies' wheels for `arch`, checked to be for it."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # a copy, so that building leaves no build/ or egg-info in the checkout
    shutil.copytree(source, build_dir, ignore=shutil.ignore_patterns(".*", "build", "dist", "var", "*.egg-info",
                                                                     "__pycache__", "tests", "benchmarks"))
    subprocess.run([*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(build_dir)], check=True)
    (own,) = wheels.glob("smsgw-*.whl")
    subprocess.run([*pip, "download", "--only-binary=:all:", "--dest", str(wheels),
                    *platforms(arch), "--python-version", PYTHON[0],
                    "--implementation", "cp", "--abi", PYTHON[1], "--abi", "abi3", "--abi", "none", str(own)],
                   check=True)
    foreign = [w.name for w in wheels.glob("*.whl") if not wheel_fits(w.name, arch)]
    if foreign:
        raise SystemExit(f"wheels that do not run on {arch}: {', '.join(foreign)}")


def platforms(arch: str) -> list[str]:
    """pip's --platform options for bookworm on `arch`: every manylinux tag its glibc satisfies (pip takes them
    as given, without adding the older ones)."""
    machine = MACHINES[arch]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC, 16, -1)] + [f"manylinux2014_{machine}"]
    return [option for tag in tags for option in ("--platform", tag)]


def wheel_fits(name: str, arch: str) -> bool:
    """Whether the wheel file `name` runs on bookworm's CPython on `arch` (pure, or built for that machine)."""
    python, abi, platform = name[:-len(".whl")].split("-")[-3:]
    if platform == "any":
        return abi == "none" and any(p in ("py3", "py2.py3") or p.startswith("py3") for p in python.split("."))
    return abi in (PYTHON[1], "abi3") and all(p.endswith(MACHINES[arch]) for p in platform.split("."))


def _lay_out(source: Path, root: Path, version: str) -> None:
    """The package's files: unit, udev rules, config (a conffile), docs, and /usr/bin/smsgw into the venv."""
    unit = (source / "systemd/smsgw.service").read_text()
    unit = unit.replace("file:///opt/smsgw/README.md file:///opt/smsgw/docs/install.md",
                        "file:///usr/share/doc/smsgw/README.md file:///usr/share/doc/smsgw/install.md")
    _put(root / "lib/systemd/system/smsgw.service", unit.replace("installed by systemd/install.sh",
                                                                 "installed by the smsgw package"))
    _put(root / "lib/udev/rules.d/99-smsgw-modems.rules", (source / "systemd/99-smsgw-modems.rules").read_text())
    _put(root / "etc/smsgw/config.toml", (source / "systemd/config.toml.template").read_text())
    doc = root / "usr/share/doc/smsgw"
    _put(doc / "README.md", (source / "README.md").read_text())
    for page in sorted((source / "docs").glob("*.md")):
        _put(doc / page.name, page.read_text())
    _put(doc / "copyright", (HERE / "copyright").read_text())
    _put_gz(root / "usr/share/man/man1/smsgw.1.gz", (HERE / "smsgw.1").read_bytes())
    changelog = (f"smsgw ({version}) bookworm; urgency=medium\n\n  * Release {version}: see"
                 f" /usr/share/doc/smsgw/CHANGELOG.md.gz\n\n -- {MAINTAINER}  "
                 f"{format_datetime(datetime.now(timezone.utc))}\n")
    _put_gz(doc / "changelog.gz", changelog.encode())
    if (source / "CHANGELOG.md").exists():
        _put_gz(doc / "CHANGELOG.md.gz", (source / "CHANGELOG.md").read_bytes())
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/smsgw").symlink_to("/opt/smsgw/venv/bin/smsgw")


def _write_control(root: Path, version: str, arch: str) -> None:
    debian = root / "DEBIAN"
    debian.mkdir(mode=0o755)
    size_kib = sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink()) // 1024
    python_next = f"3.{int(PYTHON[0].split('.')[1]) + 1}"
    control = f"""Package: smsgw
Version: {version}
Architecture: {arch}
Maintainer: {MAINTAINER}
Installed-Size: {size_kib}
Depends: python3 (>= {PYTHON[0]}), python3 (<< {python_next}), python3-venv, passwd, adduser
Recommends: postgresql-client
Section: comm
Priority: optional
Homepage: https://smsgw.invalid/
Description: on-premise SMS gateway for GSM modems
 Local systems send SMS through its HTTP API (REST, and Kannel, Twilio, SOAP
 and SMS Gateway for Android compatible doors); a durable outbox drives the
 modems, delivery reports and replies come back, and a status page shows it.
 Every Python dependency ships inside the package: installing needs no network.
"""
    (debian / "control").write_text(control)
    (debian / "conffiles").write_text("/etc/smsgw/config.toml\n")
    sums = [f"{hashlib.md5(f.read_bytes()).hexdigest()}  {f.relative_to(root)}\n"
            for f in sorted(root.rglob("*")) if f.is_file() and not f.is_symlink() and debian not in f.parents
            and not str(f.relative_to(root)).startswith("etc/")]
    (debian / "md5sums").write_text("".join(sums))
    for script in ("postinst", "prerm", "postrm"):
        text = (HERE / script).read_text().replace("@VERSION@", version)
        (debian / script).write_text(text)
        (debian / script).chmod(0o755)


def _put(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o644)


def _put_gz(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    path.chmod(0o644)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(MACHINES), default="amd64")
    parser.add_argument("--source", type=Path, default=HERE.parent.parent, help="the checkout to package")
    parser.add_argument("--out", type=Path, default=Path("dist"))
    args = parser.parse_args()
    print(build(args.source.resolve(), args.arch, args.out))


if __name__ == "__main__":
    main()
