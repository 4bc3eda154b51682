"""The Flask app factory: thin views over `gateway.core.service`."""

from __future__ import annotations

from flask import Flask

from gateway.config import Settings
from gateway.core.service import GatewayService


def create_app(settings: Settings, service: GatewayService) -> Flask:
    """Build the WSGI app. Nothing here starts threads, schedulers or modems."""
    from web import allowlist, api, compat, errors, metrics, status

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_body_bytes
    app.json.sort_keys = False
    app.extensions["smsgw.service"] = service
    errors.init_app(app)
    allowlist.init_app(app, settings.server.allow_from)
    metrics.init_app(app)
    status.init_app(app, settings)
    compat.init_app(app)
    api.init_app(app)  # after metrics: its audit hook runs before the request is counted, as it always has
    if settings.server.is_tls:
        from gateway.appliance.tls import add_hsts

        app.after_request(add_hsts)
    return app
