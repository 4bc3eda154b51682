"""A port for a server in a child process that has to be told its port (`smsgw run`, postgres)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10000


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range: bind(0) and outgoing connections (of this
    process and of the other test workers) never take one there, so it stays free until the child binds it."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except OSError:  # not Linux: the kernel's pick
        ephemeral = LOWEST
    pick = random.SystemRandom()  # not the module's generator, which tests may seed alike in every worker
    while True:
        port = pick.randrange(LOWEST, ephemeral) if ephemeral > LOWEST else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
