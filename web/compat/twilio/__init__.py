"""The Twilio door: the Messages API (`views`), accounts over API keys (`accounts`), status callbacks and the
incoming-message webhook with TwiML replies (`callbacks`), the `[twilio]` section (`settings`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.doors import Door

if TYPE_CHECKING:
    from flask import Blueprint


def routes() -> Blueprint:
    """The door's views, imported when an app is built (reading the config needs none of them)."""
    from web.compat.twilio.views import bp

    return bp

from web.compat.twilio import callbacks
from web.compat.twilio.settings import TwilioSettings

DOOR = Door("twilio", routes=routes, settings=TwilioSettings, render=callbacks.render, replies=callbacks.replies,
            receivers=callbacks.receivers)
