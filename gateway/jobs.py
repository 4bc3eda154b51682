"""APScheduler wiring for the periodic jobs. One-line calls into the service; never on the send path."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler

from gateway.service import GatewayService

INBOUND_FLUSH_INTERVAL_S = 60
REPORT_CHECK_INTERVAL_S = 60


def build_scheduler(service: GatewayService) -> BackgroundScheduler:
    """A scheduler with every periodic job registered (started by the runtime, not here)."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(service.flush_incomplete_inbound, "interval", seconds=INBOUND_FLUSH_INTERVAL_S,
                      id="flush_incomplete_inbound", replace_existing=True)
    scheduler.add_job(service.mark_reports_overdue, "interval", seconds=REPORT_CHECK_INTERVAL_S,
                      id="mark_reports_overdue", replace_existing=True)
    return scheduler
