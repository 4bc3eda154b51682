"""Who holds a serial port open: for the message when its exclusive lock is refused ("held by pid 812
(ModemManager)"), which is otherwise a bare EAGAIN. Read from /proc; processes this user may not look into are
not listed."""

from __future__ import annotations

import os
from pathlib import Path


def port_holders(port: str, proc: Path = Path("/proc")) -> list[str]:
    """Each process with `port` (or the device its link names) open, as "pid N (name)"; this process's own
    handles as "this process (fd 7, 9)"."""
    device = os.path.realpath(port)
    found: list[str] = []
    for pid_dir in proc.glob("[0-9]*"):
        try:
            fds = [fd.name for fd in (pid_dir / "fd").iterdir() if _link(fd) == device]
        except OSError:  # gone, or not ours to read
            continue
        if not fds:
            continue
        if int(pid_dir.name) == os.getpid():
            found.append(f"this process (fd {', '.join(sorted(fds, key=int))})")
            continue
        found.append(f"pid {pid_dir.name} ({_command_of(pid_dir)})")
    return found


def _command_of(pid_dir: Path) -> str:
    """The process's name; for an interpreter (python3, perl), also what it runs, which says more."""
    try:
        name = (pid_dir / "comm").read_text().strip()
        if name.startswith(("python", "perl")):
            args = (pid_dir / "cmdline").read_bytes().split(b"\0")[1:]
            name += " " + " ".join(a.decode(errors="replace") for a in args if a)[:80]
        return name.strip()
    except OSError:
        return "?"


def _link(fd: Path) -> str | None:
    try:
        return os.readlink(fd)
    except OSError:  # closed meanwhile (the listing's own handle is one)
        return None


def busy_message(port: str) -> str:
    """"<port> is in use by …" naming the holders when /proc says."""
    holders = port_holders(port)
    return f"{port} is in use by {', '.join(holders) if holders else 'another process'}"
