"""Compatibility doors: thin adapters that speak other gateways' APIs over the same `gateway.core.service` verbs as
/api/v1 (same validation, outbox, states and keys). One module per door; each refuses bad input its own way."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from web.compat import android, kannel, soap, twilio

    for door in (kannel, soap, twilio, android):
        door.init_app(app)
