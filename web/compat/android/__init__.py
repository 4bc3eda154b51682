"""The SMS Gateway for Android door: its local API (`views`) and its signed webhooks (`callbacks`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.doors import Door

if TYPE_CHECKING:
    from flask import Blueprint


def routes() -> Blueprint:
    """The door's views, imported when an app is built (reading the config needs none of them)."""
    from web.compat.android.views import bp

    return bp

from web.compat.android import callbacks

DOOR = Door("android", routes=routes, render=callbacks.render)
