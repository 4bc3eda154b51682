"""The status page's login session, as every part of the app reads it (the pages, and /api/v1 for their reads)."""

from __future__ import annotations

import hmac

from typing import TYPE_CHECKING

from flask import current_app, session

if TYPE_CHECKING:
    from gateway.store.models import Account


# A session's use is written to it at most this often. A response that changes nothing sets no cookie, so a request
# answered after a logout (the page's poll, in flight) cannot put the old session back over the new one (whose CSRF
# token the login form carries). The idle timeout counts from the last write: up to this much longer.
SEEN_EVERY_S = 60


def is_logged_in() -> bool:
    """A session opened under the current generation of its password (the admin password's, or its user's
    password and role: no logout or change since), and used within the idle timeout; each request it makes
    counts as use."""
    auth = current_app.extensions.get("smsgw.admin")
    generation, user = session.get("generation"), session.get("user")
    if auth is None or not isinstance(generation, str):
        return False
    current = auth.user_generation(user) if user else auth.password_generation()
    if not hmac.compare_digest(generation, current or ""):
        return False
    now = current_app.extensions["smsgw.service"].clock().timestamp()
    seen = session.get("seen")
    if not isinstance(seen, (int, float)) or now - seen > current_app.config["SMSGW_SESSION_IDLE_S"]:
        return False
    if now - seen >= SEEN_EVERY_S:
        session["seen"] = now
    return True


def renew() -> None:
    """Keep this session open after its user changed their own login (which ends their other sessions)."""
    user = session.get("user")
    if user:
        session["generation"] = current_app.extensions["smsgw.admin"].user_generation(user)


def who() -> tuple[str, str]:
    """The logged-in session's (actor, role): a user's name and role, or "admin" for the admin password."""
    return session.get("user") or "admin", session.get("role") or "admin"


def account() -> Account | None:
    """The account the logged-in user's sends count against (None: the admin password, or a user of none)."""
    user = session.get("user")
    return current_app.extensions["smsgw.service"].accounts.of_user(user) if user else None
