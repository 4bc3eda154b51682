"""One clock: nothing under gateway/ reads the wall clock but gateway/clock.py, and the time-sensitive tests
pass with the suite's calendar moved years ahead (so none of them can expire as the real date moves on)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (module, function) calls that read the wall clock; time.monotonic()/perf_counter() measure durations only
WALL_CLOCK_READS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
                    ("time", "time"), ("time", "time_ns")}
# the modules whose tests put a fake clock's time into the store, the service or a whole gateway
TIME_SENSITIVE = ["store/test_store.py", "appliance/test_multibox.py", "core/test_scheduling.py",
                  "store/test_retention.py", "core/test_ratelimit.py", "core/test_keys.py", "core/test_optout.py",
                  "core/test_idempotency.py", "store/test_receivers.py", "appliance/test_doctor.py"]


def wall_clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if (name, node.func.attr) in WALL_CLOCK_READS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}.{node.func.attr}()")
    return found


def test_only_the_clock_module_reads_the_wall_clock():
    reads = [read for path in sorted((ROOT / "gateway").rglob("*.py")) if path != ROOT / "gateway" / "clock.py"
             for read in wall_clock_reads(path)]
    assert reads == []


def test_the_time_sensitive_tests_pass_ten_years_from_now(tmp_path):
    env = {**os.environ, "SMSGW_TEST_YEARS_AHEAD": "10"}
    modules = [str(ROOT / "tests" / name) for name in TIME_SENSITIVE]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           *modules], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
