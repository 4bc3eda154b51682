"""The Kannel door: smsbox's `sendsms` (`views`), dlr-url and sms-service get-url callbacks (`callbacks`), the
`[kannel]` section (`settings`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.doors import Door

if TYPE_CHECKING:
    from flask import Blueprint


def routes() -> Blueprint:
    """The door's views, imported when an app is built (reading the config needs none of them)."""
    from web.compat.kannel.views import bp

    return bp

from web.compat.kannel import callbacks
from web.compat.kannel.settings import KannelSettings

DOOR = Door("kannel", routes=routes, settings=KannelSettings, render=callbacks.render, replies=callbacks.replies,
            receivers=callbacks.receivers)
