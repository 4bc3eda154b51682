import platform
import subprocess
import sys

import pytest

from gateway.appliance.memory import YOUNG_COLLECTION_EVERY, limit_malloc_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's arena cap is glibc's")
def test_glibc_takes_the_arena_cap():
    assert limit_malloc_arenas(2) is True


def test_a_settled_heap_is_frozen_and_collected_less_often():
    """In a process of its own: the collector's settings are the whole process's."""
    script = ("import gc\n"
              "from gateway.appliance.memory import settle_heap\n"
              "old_generations = gc.get_threshold()[1:]\n"
              "settle_heap()\n"
              "print(gc.get_freeze_count() > 0, gc.get_threshold()[0], gc.get_threshold()[1:] == old_generations)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", str(YOUNG_COLLECTION_EVERY), "True"]
