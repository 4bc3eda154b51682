"""Alerts: what the box found wrong with itself (gateway/core/alerts.py), open and past, and their mutes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, TypedDict

from flask import Blueprint, request

from gateway.errors import ValidationError
from gateway.representations import alert_json
from web.api.access import requires, service
from web.api.openapi import operation
from web.schemas import Request, decode, doc

bp = Blueprint("alerts", __name__, url_prefix="/api/v1")

MAX_MUTE_MINUTES = 7 * 24 * 60


class AlertView(TypedDict):
    id: str
    key: Annotated[str, doc("the condition and what it is about, e.g. modem_down:modem1")]
    kind: Annotated[str, doc(enum=["modem_down", "modem_degraded", "sim_storage_full", "credit_low", "bundle_used",
                                   "queue_age", "error_rate", "delivery_ratio", "box_dead", "disk_space",
                                   "certificate"])]
    subject: str
    message: str
    state: Annotated[str, doc(enum=["open", "resolved"])]
    raised_at: str
    resolved_at: str | None
    muted_until: str | None


class AlertList(TypedDict):
    open: list[AlertView]
    recent: Annotated[list[AlertView], doc("the latest 100, open or resolved, newest first")]


class Mute(Request):
    minutes: Annotated[int, doc("no notice of this alert (or of its key raised again) before then", minimum=1,
                                maximum=MAX_MUTE_MINUTES)]


@bp.get("/alerts")
@operation("Open alerts and the latest ones", AlertList)
@requires("read")
def list_alerts():
    alerts = service().alerts
    return {"open": [alert_json(a) for a in alerts.open_alerts()], "recent": [alert_json(a) for a in alerts.recent()]}


@bp.post("/alerts/<uid>/mute")
@operation("Mute an alert's notices for a while (admin)", AlertView, body=Mute, errors=(400, 404))
@requires("admin")
def mute_alert(uid: str):
    mute = decode(request.get_data(cache=False), Mute)
    if not 0 < mute.minutes <= MAX_MUTE_MINUTES:
        raise ValidationError(f"minutes must be 1 to {MAX_MUTE_MINUTES}", field="minutes")
    return alert_json(service().alerts.mute(uid, service().clock() + timedelta(minutes=mute.minutes)))
