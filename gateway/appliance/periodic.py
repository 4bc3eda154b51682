"""APScheduler wiring for the periodic jobs. One-line calls into the service; never on the send path."""

from __future__ import annotations

import logging
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from gateway.core.pool import ModemPool
from gateway.core.service import GatewayService
from gateway.errors import StoreUnavailable

log = logging.getLogger(__name__)

INBOUND_FLUSH_INTERVAL_S = 30
REPORT_CHECK_INTERVAL_S = 60
LEASE_CHECK_MAX_INTERVAL_S = 30
BODY_PURGE_INTERVAL_S = 3600  # retention is in days: hourly is plenty
REQUEST_COUNT_PURGE_INTERVAL_S = 600
RELEASE_DUE_INTERVAL_S = 5  # backstop: workers release scheduled messages at their time themselves


def lease_check_interval_s(lease_s: float) -> float:
    """How often each box sweeps for expired leases: a few times per lease, at most every 30 s."""
    return max(0.5, min(LEASE_CHECK_MAX_INTERVAL_S, lease_s / 4))


def store_job(job: Callable[[], object], what: str) -> Callable[[], None]:
    """`job` for the scheduler: a database that does not answer is one warning naming `what` (its next run tries
    again), not a traceback."""
    def run() -> None:
        try:
            job()
        except StoreUnavailable as exc:
            log.warning("%s: not done, the database does not answer: %s", what, exc)

    return run


def build_scheduler(service: GatewayService, pool: ModemPool | None = None,
                    lease_s: float = 300.0) -> BackgroundScheduler:
    """A scheduler with every periodic job registered (started by the runtime, not here)."""
    # a run that comes late (a busy box) still runs, once: APScheduler's default drops a run over 1 s late
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                  "misfire_grace_time": None})
    scheduler.add_job(service.messages.flush_incomplete_inbound, "interval", seconds=INBOUND_FLUSH_INTERVAL_S,
                      id="flush_incomplete_inbound", replace_existing=True)
    scheduler.add_job(service.messages.mark_reports_overdue, "interval", seconds=REPORT_CHECK_INTERVAL_S,
                      id="mark_reports_overdue", replace_existing=True)
    scheduler.add_job(service.keys.forget_request_counts, "interval", seconds=REQUEST_COUNT_PURGE_INTERVAL_S,
                      id="forget_request_counts", replace_existing=True)
    scheduler.add_job(service.privacy.purge_bodies, "interval", seconds=BODY_PURGE_INTERVAL_S,
                      id="purge_bodies", replace_existing=True)
    if pool is not None:
        scheduler.add_job(pool.release_expired_claims, "interval", seconds=lease_check_interval_s(lease_s),
                          id="release_expired_claims", replace_existing=True)
        scheduler.add_job(pool.release_due, "interval", seconds=RELEASE_DUE_INTERVAL_S,
                          id="release_due", replace_existing=True)
    return scheduler
