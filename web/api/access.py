"""Who may call /api/v1: the service the app was built with, and `requires(scope)` on each view."""

from __future__ import annotations

from functools import wraps

from flask import current_app, g, request

from gateway.core.service import GatewayService
from gateway.store.models import Account
from web.session import account, is_logged_in


def service() -> GatewayService:
    """The service this app was built with."""
    return current_app.extensions["smsgw.service"]


def _token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-API-Key")


def requires(scope: str):
    """Authenticate the request's key (Bearer or X-API-Key), check it holds `scope` and is within its request
    rate, then run the view with the key in `g.api_key`. The view's `scope` tells the OpenAPI document.

    Without a key, a GET of the `read` scope is also allowed to the status page's logged-in browser (its pages
    read the API); `g.api_key` is then None. Everything else needs a key."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if _token() is None and scope == "read" and request.method == "GET" and is_logged_in():
                g.api_key = None
                return view(*args, **kwargs)
            g.api_key = service().keys.authenticate(_token(), scope)
            service().keys.check_request_rate(g.api_key)
            return view(*args, **kwargs)

        wrapper.scope = scope
        return wrapper

    return decorate


def seen_by() -> Account | None:
    """The account whose messages, campaigns, contacts and groups the request may see (its key's, or the
    logged-in browser's person's); None: every one. Call it inside a `requires` view."""
    key = g.get("api_key")
    return service().accounts.of_key(key) if key is not None else account()
