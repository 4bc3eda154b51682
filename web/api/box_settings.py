"""Settings an admin changes while the box runs, over its config's (gateway/core/box_settings.py)."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, request

from gateway.core.box_settings import QuietHours
from web.api.access import requires, service
from web.api.openapi import operation
from web.schemas import Request, decode, doc

bp = Blueprint("box_settings", __name__, url_prefix="/api/v1")


class QuietHoursChange(Request):
    window: Annotated[str | None, doc("\"22:00-07:00\", the recipient's local time; \"\": none; null: as the "
                                      "config's [messaging] quiet_hours")]


@bp.get("/settings/quiet-hours")
@operation("The hours marketing messages are held through where each recipient lives (read)", QuietHours)
@requires("read")
def get_quiet_hours():
    return service().box_settings.quiet_hours()


@bp.put("/settings/quiet-hours")
@operation("Change the quiet hours for every box sharing the database, at once (admin)", QuietHours,
           body=QuietHoursChange, errors=(400,))
@requires("admin")
def set_quiet_hours():
    change = decode(request.get_data(cache=False), QuietHoursChange)
    return service().box_settings.set_quiet_hours(change.window)
