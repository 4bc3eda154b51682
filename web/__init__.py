"""The Flask app factory: thin views over `gateway.core.service`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response

from gateway.config import Settings

if TYPE_CHECKING:  # the app is handed a service; importing it here would load the whole core for the CLI
    from gateway.core.service import GatewayService
    from gateway.doors import Doors


def create_app(settings: Settings, service: GatewayService, doors: Doors | None = None) -> Flask:
    """Build the WSGI app, with the routes of `doors` (the compatibility doors; none unless given). Nothing here
    starts threads, schedulers or modems."""
    from web import (allowlist, api, compose, errors, history, i18n, me_page, metrics, people, receipts,
                     settings_page, status, threads)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_body_bytes
    app.json.sort_keys = False
    app.extensions["smsgw.service"] = service
    errors.init_app(app)
    i18n.init_app(app)
    allowlist.init_app(app, settings.server.allow_from)
    metrics.init_app(app)
    status.init_app(app, settings)
    for pages in (people, threads, compose, history, settings_page, me_page):  # pages behind the status page's login
        app.register_blueprint(pages.bp)
    app.register_blueprint(receipts.bp)
    for door in doors or ():
        if door.routes is not None:
            app.register_blueprint(door.routes())
    api.init_app(app)  # after metrics: its audit hook runs before the request is counted, as it always has
    if settings.server.is_tls:
        app.after_request(_add_hsts)
    return app


HSTS = "max-age=31536000"  # one year; no includeSubDomains: a box does not speak for its domain


def _add_hsts(response: Response) -> Response:
    """Served over TLS: browsers keep to HTTPS for this box."""
    response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
