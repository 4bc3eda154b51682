"""One clock: nothing under gateway/ reads the wall clock but gateway/clock.py, and the time-sensitive tests
pass with the suite's calendar moved years ahead (so none of them can expire as the real date moves on)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (module, function) calls that read the wall clock; time.monotonic()/perf_counter() measure durations only
WALL_CLOCK_READS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
                    ("time", "time"), ("time", "time_ns")}
# the modules whose tests put a fake clock's time into the store, the service or a whole gateway
TIME_SENSITIVE = ["store/test_store.py", "appliance/test_multibox.py", "core/test_scheduling.py",
                  "store/test_retention.py", "core/test_ratelimit.py", "core/test_keys.py", "core/test_optout.py",
                  "core/test_idempotency.py", "store/test_receivers.py", "appliance/test_doctor.py"]
# their tests that run on the wall clock, which the suite's calendar never reaches: whole gateways started without
# a fake clock, and `smsgw` child processes (a renamed test here is run again, never lost)
WALL_CLOCK = {
    "appliance/test_multibox.py": ["test_two_gateway_processes_share_the_outbox_and_a_killed_box_loses_nothing",
                                   "test_a_killed_box_is_noticed_in_seconds_and_what_it_held_settled_long_before_its_"
                                   "leases_end", "test_a_second_box_with_a_live_boxs_name_refuses_to_start",
                                   "test_a_box_paused_past_the_dead_threshold_sends_nothing_another_box_handled"],
    "appliance/test_doctor.py": ["test_smsgw_doctor_exits_non_zero_and_prints_fixes",
                                 "test_a_port_the_running_gateway_holds_is_read_from_the_database"],
    "core/test_keys.py": ["test_cli_creates_expiring_keys_and_rotates"],
    "core/test_scheduling.py": ["test_a_message_scheduled_two_seconds_ahead_goes_out_within_a_second_of_its_time",
                                "test_a_scheduled_message_can_be_cancelled_and_a_bad_send_at_is_refused",
                                "test_a_message_that_cannot_go_in_time_expires",
                                "test_a_high_message_overtakes_a_running_bulk_batch"],
    "core/test_ratelimit.py": ["test_a_modem_over_its_cap_leaves_the_work_to_the_others",
                               "test_a_lone_modem_over_its_cap_holds_the_rest_queued",
                               "test_the_cap_holds_across_a_restart"],
    "core/test_optout.py": ["test_stop_is_confirmed_through_the_modem_it_came_in_on"],
    "core/test_idempotency.py": ["test_concurrent_duplicates_send_once"],
}


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


@pytest.mark.timeout(600)  # the subprocess's own limit: ~150 tests, beside the other workers' tests
def test_the_time_sensitive_tests_pass_ten_years_from_now(tmp_path):
    """In a pytest of its own (serial: it runs beside the other workers' tests) with its own temp dirs."""
    env = {**os.environ, "SMSGW_TEST_YEARS_AHEAD": "10"}
    modules = [f"tests/{name}" for name in TIME_SENSITIVE]
    deselected = [arg for module, names in WALL_CLOCK.items() for name in names
                  for arg in ("--deselect", f"tests/{module}::{name}")]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           "--basetemp", str(tmp_path / "basetemp"), *modules, *deselected],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
