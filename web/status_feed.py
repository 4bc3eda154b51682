"""The status page's JSON feed: what the dashboard shows, shaped for the browser. Numbers masked by default;
bodies never included (the operator fetches one on request)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import pgettext

from gateway.core.service import GatewayService
from gateway.representations import bundle_json, time_json
from gateway.rules.adaptive import Figures
from gateway.rules.credit import parse_credit
from gateway.rules.masking import mask_number
from gateway.store.models import Account
from gateway.store.stats import Series, Stats
from gateway.values import MessageState
from web.i18n import state_label
from web.metrics import ApiFigures

OUTBOUND_ROWS = 12
INBOUND_ROWS = 8
TARGETS = {"delivery_rate": 0.99, "median_delivery_s": 5.0, "api_p99_s": 0.5, "error_rate": 0.01}


def signal_bars(rssi: int | None) -> int:
    """+CSQ rssi (0..31, 99 unknown) as 0..4 bars, the way phones draw them."""
    if rssi is None or rssi == 99 or rssi < 2:
        return 0
    return 1 if rssi < 10 else 2 if rssi < 15 else 3 if rssi < 20 else 4


def _series(series: Series) -> dict[str, Any]:
    return {"width_s": series.width_s, "starts": list(series.starts),
            **{name: list(counts) for name, counts in series.counts.items()}}


def _network(registration: str | None) -> str | None:
    """A modem's registration (gateway/modem/driver.py Registration) as the page's language says it."""
    said = {"home": pgettext("mobile network", "home"), "roaming": pgettext("mobile network", "roaming"),
            "searching": pgettext("mobile network", "searching"), "denied": pgettext("mobile network", "denied"),
            "not_registered": pgettext("mobile network", "not registered"),
            "no_sms": pgettext("mobile network", "no SMS"), "unknown": pgettext("mobile network", "unknown")}
    return None if registration is None else said.get(registration, registration)


def _health(delivery, api: ApiFigures) -> list[dict[str, Any]]:
    def figure(key, label, value, shown, target_text, ok):
        return {"key": key, "label": label, "value": value, "display": shown, "target": target_text,
                "ok": None if value is None else ok}

    rate, median = delivery.rate, delivery.median_send_s
    return [
        figure("delivery_rate", _("Delivery rate"), rate, "—" if rate is None else f"{rate * 100:.1f} %",
               _("target ≥ 99 %"), rate is not None and rate >= TARGETS["delivery_rate"]),
        figure("median_delivery_s", _("Median delivery time"), median,
               "—" if median is None else f"{median:.1f} s", _("target ≤ 5 s"),
               median is not None and median <= TARGETS["median_delivery_s"]),
        figure("api_latency", _("API response time"), api.p99_s,
               "—" if api.p50_s is None else f"{api.p50_s * 1000:.0f} / {api.p99_s * 1000:.0f} ms",
               _("p50 / p99, target ≤ 500 ms"), api.p99_s is not None and api.p99_s <= TARGETS["api_p99_s"]),
        figure("error_rate", _("API error rate"), api.error_rate,
               "—" if api.error_rate is None else f"{api.error_rate * 100:.2f} %", _("target ≤ 1 %"),
               api.error_rate is not None and api.error_rate <= TARGETS["error_rate"]),
    ]


def _credit(balance: str | None) -> str | None:
    """The amount and currency read from the operator's balance text ("1.20 GBP"); None when none can be read."""
    credit = parse_credit(balance)
    return None if credit is None else str(credit)


def _delivery(figures: Figures | None) -> dict | None:
    """A target's measured delivery (gateway/rules/adaptive.py) as the page shows it; None before any report."""
    if figures is None:
        return None
    return {"ratio": round(figures.ratio, 3), "reported": figures.reported, "report_p50_s": figures.report_p50_s}


def status_json(service: GatewayService, stats: Stats, api: ApiFigures, *, full_numbers: bool = False,
                seen_by: Account | None = None) -> dict:
    """The dashboard's figures; its latest outbound messages are `seen_by`'s only, when given (an account's
    person)."""
    now = service.clock()
    show = (lambda n: n) if full_numbers else mask_number
    queue = stats.queue(now)
    delivery = stats.delivery(now)
    outbound, _ = service.messages.list_messages(limit=OUTBOUND_ROWS, seen_by=seen_by)
    inbound, _ = service.messages.list_inbox(limit=INBOUND_ROWS)
    return {
        "now": time_json(now),
        "modems": [{
            "name": d.modem.name, "label": d.modem.label, "kind": d.modem.kind, "port": d.modem.port,
            "box": d.modem.box, "group": d.modem.group,
            "state": d.modem.state.value,
            "state_label": state_label(d.modem.state),
            "is_up": d.is_up, "operator": d.modem.operator, "registration": d.modem.registration,
            "registration_label": _network(d.modem.registration),
            "signal_dbm": d.modem.signal_dbm, "bars": signal_bars(d.modem.rssi), "imei": d.modem.imei,
            "model": " ".join(p for p in (d.modem.manufacturer, d.modem.model) if p) or None,
            "sent_today": d.sent_today, "failed_today": d.failed_today, "received": d.modem.received_count,
            "last_error": d.modem.last_error, "updated_at": time_json(d.modem.updated_at),
            "own_number": d.modem.own_number,  # the box's own SIM, not a customer's number: never masked
            "balance": d.modem.balance, "balance_checked_at": time_json(d.modem.balance_checked_at),
            "credit": _credit(d.modem.balance),
            "storage_used": d.modem.storage_used, "storage_total": d.modem.storage_total,
            "degraded": d.modem.degraded_since is not None,
            "delivery": _delivery(service.routing.overall.get(d.modem.name)),
            "deferred": service.routing.reasons.get(d.modem.name),
            "bundle": bundle_json(d.modem),
        } for d in stats.modem_days(now)],
        "alerts": [{"id": a.uid, "kind": a.kind, "message": a.message, "raised_at": time_json(a.raised_at),
                    "muted": a.muted_until is not None and a.muted_until > now}
                   for a in service.alerts.open_alerts()],
        "quarantined": stats.quarantined(),
        "waiting_for_parts": len(service.messages.waiting_parts()),
        "queue": {"queued": queue.queued, "scheduled": queue.scheduled, "sending": queue.sending,
                  "failed_last_hour": queue.failed_last_hour, "oldest_queued_age_s": queue.oldest_queued_age_s},
        "throughput": {
            "hour": _series(stats.series(now, width_s=60, buckets=60, with_received=True)),
            "day": _series(stats.series(now, width_s=3600, buckets=24, with_received=True)),
        },
        "health": _health(delivery, api),
        "outbound": [{
            "id": m.uid, "to": show(m.to_number), "state": m.state.value, "state_label": state_label(m.state),
            "modem": m.modem or m.pinned_modem,
            "parts": m.part_count, "created_at": time_json(m.created_at), "updated_at": time_json(m.updated_at),
            "error": m.error_code, "can_cancel": m.state in (MessageState.QUEUED, MessageState.SCHEDULED),
            "can_retry": m.state in (MessageState.FAILED, MessageState.UNKNOWN),
        } for m in outbound],
        "inbound": [{
            "id": i.uid, "from": show(i.sender), "modem": i.modem, "parts": i.part_count, "state": i.state.value,
            "received_at": time_json(i.received_at),
        } for i in inbound],
        "keys": [{
            "id": k.id, "name": k.name, "prefix": k.prefix, "scopes": k.scopes, "created_at": time_json(k.created_at),
            "last_used_at": time_json(k.last_used_at), "revoked": k.revoked_at is not None,
        } for k in service.keys.list_keys()],
    }
