"""One JSON error shape for everything the app refuses: {"error": {"code", "message", "field"}}; a browser that
opens an address that is no page gets the status page's error page instead."""

from __future__ import annotations

import logging
from typing import TypedDict

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from gateway.errors import GatewayError
from gateway.rules.ratelimit import RateLimited

log = logging.getLogger(__name__)


class ErrorDetail(TypedDict):
    code: str
    message: str
    field: str | None


class Error(TypedDict):
    """A refusal: a stable `code`, a message for people, and the request field at fault (or null)."""

    error: ErrorDetail


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: Error = {"error": {"code": code, "message": message, "field": field}}
    response = jsonify(body)
    response.status_code = status
    return response


PAGE_TITLES = {404: _l("Page not found"), 405: _l("Not a page")}
PAGE_MESSAGES = {404: _l("There is no page at this address."),
                 405: _l("This address takes a form's answer, not a visit: it is not a page to open.")}


def _wants_page() -> bool:
    """A browser asking for a page (not the API, not a client that takes JSON) gets an HTML error page."""
    return (not request.path.startswith("/api/") and request.accept_mimetypes.best_match(
        ["application/json", "text/html"]) == "text/html")


def init_app(app: Flask) -> None:
    @app.errorhandler(GatewayError)
    def gateway_error(exc: GatewayError):
        return error_response(exc.http_status, exc.code, exc.message, exc.field)

    @app.errorhandler(RateLimited)
    def rate_limited(exc: RateLimited):
        response = error_response(exc.http_status, exc.code, exc.message, exc.field)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if _wants_page():
            return render_template("error.html", title=PAGE_TITLES.get(exc.code or 500, exc.name),
                                   message=PAGE_MESSAGES.get(exc.code or 500, exc.description or "")), exc.code
        code = {413: "payload_too_large"}.get(exc.code, (exc.name or "error").lower().replace(" ", "_"))
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "the gateway hit an internal error; it has been logged")
