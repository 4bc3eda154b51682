"""The status page's login session, as every part of the app reads it (the pages, and /api/v1 for their reads)."""

from __future__ import annotations

import hmac

from flask import current_app, session


def is_logged_in() -> bool:
    """A session opened under the current password generation (no logout or password change since), and used
    within the idle timeout; each request it makes counts as use."""
    auth = current_app.extensions.get("smsgw.admin")
    generation = session.get("admin")
    if auth is None or generation is None or not hmac.compare_digest(generation, auth.password_generation() or ""):
        return False
    now = current_app.extensions["smsgw.service"].clock().timestamp()
    seen = session.get("seen")
    if not isinstance(seen, (int, float)) or now - seen > current_app.config["SMSGW_SESSION_IDLE_S"]:
        return False
    session["seen"] = now
    return True
