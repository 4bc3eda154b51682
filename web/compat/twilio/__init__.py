"""The Twilio door: the Messages API (`views`), accounts over API keys (`accounts`), status callbacks and the
incoming-message webhook with TwiML replies (`callbacks`), the `[twilio]` section (`settings`)."""

from gateway.doors import Door
from web.compat.twilio import callbacks, views
from web.compat.twilio.settings import TwilioSettings

DOOR = Door("twilio", routes=views.bp, settings=TwilioSettings, render=callbacks.render, replies=callbacks.replies,
            receivers=callbacks.receivers)
