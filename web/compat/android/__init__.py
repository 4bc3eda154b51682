"""The SMS Gateway for Android door: its local API (`views`) and its signed webhooks (`callbacks`)."""

from gateway.doors import Door
from web.compat.android import callbacks, views

DOOR = Door("android", routes=views.bp, render=callbacks.render)
