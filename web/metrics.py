"""GET /metrics (Prometheus text) and GET /healthz, and the API request instrumentation behind them.

Two sources: what lives in the database (messages by state and modem, queue depth, modem signal and up,
send and delivery times) is read by `StoreCollector` at scrape time, so it is right after a restart and across
processes; API requests (count by route and status, latency) are counted in this process, in a registry that
belongs to the app (tests build many apps). A rolling 24 h window of API requests gives the status page its
response-time and error-rate figures.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable

from flask import Blueprint, Flask, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy.exc import SQLAlchemyError

from gateway.version import VERSION
from gateway.errors import StoreUnavailable
from gateway.store.stats import Stats

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SUBMIT_TO_SENT_BUCKETS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
SENT_TO_DELIVERED_BUCKETS_S = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)
NOT_API = {"metrics", "status", "static"}  # blueprints (and the static endpoint) that are not the API
# label values of a request's method: any other (a client may send any token) is counted as "other"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _inf(bounds):
    return [*(str(b) for b in bounds), "+Inf"]


class StoreCollector:
    """Reads the store when Prometheus scrapes. A database that does not answer gives smsgw_store_up 0."""

    def __init__(self, stats: Stats) -> None:
        self._stats = stats

    def describe(self):
        return []  # not known until the store is read: nothing is registered eagerly

    def collect(self):
        up = GaugeMetricFamily("smsgw_store_up", "1 when the database answered this scrape")
        try:
            families = list(self._families())
        except (SQLAlchemyError, StoreUnavailable) as exc:
            log.warning("metrics: the store did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self):
        stats = self._stats
        transitions = CounterMetricFamily("smsgw_messages", "Messages that entered each state, per modem "
                                          "(from the message history)", labels=["state", "modem"])
        for (state, modem), n in sorted(stats.transitions().items()):
            transitions.add_metric([state, modem], n)
        yield transitions

        depth = GaugeMetricFamily("smsgw_queue_depth", "Messages waiting or in flight, by state", labels=["state"])
        for state, n in stats.queue_depth().items():
            depth.add_metric([state], n)
        yield depth

        modems = stats.modems()
        received = CounterMetricFamily("smsgw_received_messages", "SMS received, per modem", labels=["modem"])
        up = GaugeMetricFamily("smsgw_modem_up", "1 when the modem is online (or sending)", labels=["modem"])
        signal = GaugeMetricFamily("smsgw_modem_signal_dbm", "Last signal strength the modem reported",
                                   labels=["modem"])
        state = GaugeMetricFamily("smsgw_modem_state", "1 for the modem's current state", labels=["modem", "state"])
        storage_used = GaugeMetricFamily("smsgw_modem_storage_used", "SMS held in the modem's receive memory",
                                         labels=["modem"])
        storage_total = GaugeMetricFamily("smsgw_modem_storage_total", "Size of the modem's receive memory",
                                          labels=["modem"])
        for m in modems:
            if m.storage_used is not None and m.storage_total is not None:
                storage_used.add_metric([m.name], m.storage_used)
                storage_total.add_metric([m.name], m.storage_total)
            received.add_metric([m.name], m.received_count)
            up.add_metric([m.name], 1 if m.state.value in ("online", "sending") else 0)
            if m.signal_dbm is not None:
                signal.add_metric([m.name], m.signal_dbm)
            state.add_metric([m.name, m.state.value], 1)
        yield from (received, up, signal, state, storage_used, storage_total)
        yield GaugeMetricFamily("smsgw_quarantined_messages", "Received SMS kept raw because they could not be "
                                "decoded or stored", value=stats.quarantined())

        for name, doc, hist in (
            ("smsgw_submit_to_sent_seconds", "Time from queued to accepted by the network",
             stats.submit_to_sent(SUBMIT_TO_SENT_BUCKETS_S)),
            ("smsgw_sent_to_delivered_seconds", "Time from accepted by the network to the delivery report",
             stats.sent_to_delivered(SENT_TO_DELIVERED_BUCKETS_S)),
        ):
            family = HistogramMetricFamily(name, doc)
            family.add_metric([], list(zip(_inf(hist.bounds), [*hist.le, hist.count])), hist.total_s)
            yield family


@dataclass(frozen=True)
class ApiFigures:
    requests: int
    errors: int  # 5xx answers
    p50_s: float | None
    p99_s: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


class RequestWindow:
    """API requests of the last `window_s`, per minute: a latency histogram and a 5xx count each."""

    def __init__(self, window_s: int = 24 * 3600, clock: Callable[[], float] = time.time) -> None:
        self.window_s = window_s
        self._clock = clock
        self._minutes: dict[int, list[int]] = {}  # minute -> [count per bucket..., +Inf, errors]
        self._lock = threading.Lock()

    def observe(self, duration_s: float, status: int) -> None:
        minute = int(self._clock()) // 60
        with self._lock:
            row = self._minutes.get(minute)
            if row is None:
                row = self._minutes[minute] = [0] * (len(LATENCY_BUCKETS_S) + 2)
                self._prune(minute)
            row[bisect_left(LATENCY_BUCKETS_S, duration_s)] += 1
            row[-1] += status >= 500

    def _prune(self, minute: int) -> None:
        oldest = minute - self.window_s // 60
        for stale in [m for m in self._minutes if m <= oldest]:
            del self._minutes[stale]

    def figures(self) -> ApiFigures:
        oldest = int(self._clock()) // 60 - self.window_s // 60
        totals = [0] * (len(LATENCY_BUCKETS_S) + 2)
        with self._lock:
            for minute, row in self._minutes.items():
                if minute > oldest:
                    totals = [a + b for a, b in zip(totals, row)]
        counts, errors = totals[:-1], totals[-1]
        n = sum(counts)
        return ApiFigures(n, errors, _quantile(counts, n, 0.5), _quantile(counts, n, 0.99))


def _quantile(counts: list[int], n: int, q: float) -> float | None:
    """Like Prometheus' histogram_quantile: linear within the bucket that holds the q-th observation."""
    if not n:
        return None
    rank, seen = q * n, 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = LATENCY_BUCKETS_S[i - 1] if i else 0.0
            if i == len(LATENCY_BUCKETS_S):
                return lower  # beyond the last bound: the bound is all we know
            return lower + (LATENCY_BUCKETS_S[i] - lower) * (rank - seen) / count
        seen += count
    return None


class ApiMetrics:
    """This app's in-process metrics: a registry of its own, and the 24 h window for the status page."""

    def __init__(self, stats: Stats) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("smsgw_http_requests", "HTTP requests answered, by route and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("smsgw_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["route"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.registry.register(StoreCollector(stats))
        self.window = RequestWindow()


def metrics_of(app: Flask) -> ApiMetrics:
    return app.extensions["smsgw.metrics"]


def init_app(app: Flask) -> None:
    stats = app.extensions["smsgw.service"].stats
    app.extensions["smsgw.stats"] = stats
    app.extensions["smsgw.metrics"] = metrics = ApiMetrics(stats)

    @app.before_request
    def start_timer():
        g.smsgw_started = time.perf_counter()

    @app.after_request
    def count_request(response):
        started = g.pop("smsgw_started", None)
        if started is None:
            return response
        duration_s = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        method = request.method if request.method in HTTP_METHODS else "other"
        metrics.requests.labels(route, method, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(duration_s)
        if request.blueprint not in NOT_API and request.endpoint != "static":
            metrics.window.observe(duration_s, response.status_code)
        return response

    app.register_blueprint(bp)


@bp.get("/metrics")
def scrape():
    return generate_latest(metrics_of(current_app).registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}


@bp.get("/healthz")
def healthz():
    """200 when the database answers and at least one modem is online; 503 with the reason otherwise."""
    stats: Stats = current_app.extensions["smsgw.stats"]
    try:
        up = stats.modems_up()
    except StoreUnavailable as exc:  # the point of a health check: say what is wrong, do not raise
        return jsonify({"status": "unavailable", "database": "error", "modems_online": [],
                        "reason": exc.message, "version": VERSION}), 503
    if not up:
        return jsonify({"status": "unavailable", "database": "ok", "modems_online": [],
                        "reason": "no modem is online", "version": VERSION}), 503
    return jsonify({"status": "ok", "database": "ok", "modems_online": up, "reason": None, "version": VERSION})
