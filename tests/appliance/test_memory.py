import platform

import pytest

from gateway.appliance.memory import limit_malloc_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's arena cap is glibc's")
def test_glibc_takes_the_arena_cap():
    assert limit_malloc_arenas(2) is True
