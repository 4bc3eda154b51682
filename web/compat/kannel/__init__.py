"""The Kannel door: smsbox's `sendsms` (`views`), dlr-url and sms-service get-url callbacks (`callbacks`), the
`[kannel]` section (`settings`)."""

from gateway.doors import Door
from web.compat.kannel import callbacks, views
from web.compat.kannel.settings import KannelSettings

DOOR = Door("kannel", routes=views.bp, settings=KannelSettings, render=callbacks.render, replies=callbacks.replies,
            receivers=callbacks.receivers)
