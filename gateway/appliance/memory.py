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
import gc
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # from glibc's <malloc.h>
YOUNG_COLLECTION_EVERY = 10_000  # allocations (net of frees) between young collections; Python's default is 700


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


def settle_heap() -> None:
    """Once the gateway has started: what it built to start (modules, the app, the schema, its caches) goes to
    the collector's permanent generation, and the youngest generation is collected every
    YOUNG_COLLECTION_EVERY allocations.

    A collection holds the GIL throughout, so every modem worker and request waits for it. With Python's
    defaults, 2,400 messages submitted in three requests while 16 modems sent cost 366 young collections and
    three full ones of 244 ms together, each walking the whole heap while every modem stood still
    (benchmarks/multibox.py); settled, 15 young ones and 14 ms. Frozen objects are never walked again, and
    fewer young collections leave fewer survivors to trigger a full one. The price: a few MB more RSS."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
