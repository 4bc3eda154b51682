"""Process-wide memory settings for a long-running gateway on a small box.

glibc's malloc gives each thread that allocates its own arena (up to 8 per core), and freed memory stays in
the arena it came from. The gateway's threads (HTTP workers, modem workers, scheduler jobs, webhook senders)
each grew an arena under load: a 10-minute soak at 100 requests/s took RSS from 89 to 131 MB, all of it in
anonymous mappings outside the main heap. Two arenas keep it to ~98 MB at the same load (benchmarks/load.py
--soak) for no measurable cost in throughput or latency.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # from glibc's <malloc.h>


def limit_malloc_arenas(count: int = 2) -> bool:
    """Cap glibc's malloc arenas at `count` (as MALLOC_ARENA_MAX does); False where libc is not glibc.

    Call it before the gateway starts its threads: arenas already made stay."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if mallopt(M_ARENA_MAX, count) != 1:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", count)
        return False
    return True
