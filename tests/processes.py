"""Child processes of the tests (`smsgw run` boxes): a clean stop."""

from __future__ import annotations

import signal
import subprocess


def stop(process: subprocess.Popen | None, timeout_s: float = 30.0) -> None:
    """SIGTERM, as systemd stops the box; killed when it is not gone within `timeout_s`."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
