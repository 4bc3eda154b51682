"""One JSON error shape for everything the app refuses: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

import logging
from typing import TypedDict

from flask import Flask, Response, jsonify
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
        code = {413: "payload_too_large"}.get(exc.code, (exc.name or "error").lower().replace(" ", "_"))
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "the gateway hit an internal error; it has been logged")
