"""The audit trail of admin actions (recorded here, read at `GET /api/v1/audit`) and erasure of a number
(`DELETE /api/v1/numbers/<number>`).

Admin actions are recorded by one after_request hook keyed on the endpoint, so the views stay as they were:
an API action counts when it answered 2xx, a status page action when it did not flash an error (the page
redirects either way), a login by its status (302 in, 401 refused, 429 throttled).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypedDict

from flask import Blueprint, Flask, g, request, session

from gateway.representations import time_json
from web.api.access import requires, service
from web.api.openapi import CURSOR, LIMIT, operation
from web.schemas import doc
from web.session import who

if TYPE_CHECKING:
    from gateway.store.models import AuditEntry as AuditRow

bp = Blueprint("audit", __name__, url_prefix="/api/v1")

# endpoint -> (action, the view argument naming what it acted on)
API_ACTIONS = {
    "messages.cancel_message": ("message.cancelled", "uid"),
    "messages.retry_message": ("message.retried", "uid"),
    "modems.reset_modem": ("modem.reset", "name"),
    "webhooks.add_webhook": ("webhook.added", None),
    "webhooks.delete_webhook": ("webhook.deleted", "uid"),
    "webhooks.send_test": ("webhook.tested", "uid"),
    "box_settings.set_quiet_hours": ("settings.quiet_hours", "window"),
    "box_settings.set_route_rules": ("settings.routes", None),
    "modems.change_modem": ("modem.changed", "name"),
    "audit.erase_number": ("number.erased", None),  # the number itself is not kept: that is the point
    "rules.add_rule": ("rule.added", None),
    "rules.update_rule": ("rule.changed", "uid"),
    "rules.delete_rule": ("rule.deleted", "uid"),
    "alerts.mute_alert": ("alert.muted", "uid"),
    "contacts.add_contact": ("contact.added", None),
    "contacts.update_contact": ("contact.changed", "uid"),
    "contacts.delete_contact": ("contact.deleted", "uid"),
    "contacts.add_group": ("group.added", None),
    "contacts.delete_group": ("group.deleted", "uid"),
    "contacts.add_members": ("group.members_added", "uid"),
    "contacts.remove_member": ("group.member_removed", "uid"),
    "accounts.add_account": ("account.added", None),
    "accounts.update_account": ("account.changed", "name"),
    "accounts.delete_account": ("account.removed", "name"),
    "accounts.set_key_account": ("key.account_set", "key_id"),
}
PAGE_ACTIONS = {
    "status.cancel": ("message.cancelled", "uid"),
    "status.retry": ("message.retried", "uid"),
    "status.reset_modem": ("modem.reset", "name"),
    "status.create_key": ("key.created", None),
    "status.revoke_key": ("key.revoked", "key_id"),
    "status.add_rule": ("rule.added", None),
    "status.toggle_rule": ("rule.toggled", "uid"),
    "status.delete_rule": ("rule.deleted", "uid"),
    "people.add_contact": ("contact.added", None),
    "people.save_contact": ("contact.changed", "uid"),
    "people.delete_contact": ("contact.deleted", "uid"),
    "people.add_group": ("group.added", None),
    "people.delete_group": ("group.deleted", "uid"),
    "people.import_run": ("contacts.imported", None),
    "compose.send": ("campaign.sent", None),
    "settings.add_user": ("user.added", "username"),
    "settings.remove_user": ("user.removed", "username"),
    "settings.turn_off_two_step": ("user.two_step_off", "username"),
    "me.change_password": ("user.password_changed", None),
    "me.turn_on_two_step": ("user.two_step_on", None),
    "me.turn_off_two_step": ("user.two_step_off", None),
    "settings.add_account": ("account.added", None),
    "settings.remove_account": ("account.removed", "name"),
    "compose.cancel_campaign": ("campaign.cancelled", "uid"),
    "compose.retry_campaign": ("campaign.retried", "uid"),
    "threads.reply": ("conversation.replied", None),
    "settings.add_template": ("template.added", None),
    "settings.save_template": ("template.changed", "name"),
    "settings.delete_template": ("template.deleted", "name"),
    "settings.add_webhook": ("webhook.added", None),
    "settings.delete_webhook": ("webhook.deleted", "uid"),
    "settings.test_webhook": ("webhook.tested", "uid"),
    "settings.change_modem": ("modem.changed", "name"),
    "settings.set_quiet_hours": ("settings.quiet_hours", "window"),
    "settings.set_route_rules": ("settings.routes", None),  # not the number: the audit trail is not sealed
}
LOGIN = {302: "login.succeeded", 401: "login.failed", 429: "login.throttled"}


def init_app(app: Flask) -> None:
    """Record admin actions of the whole app (the status page's too) after each request."""
    app.after_request(record_admin_action)


def record_admin_action(response):
    endpoint = request.endpoint
    if request.method == "GET" or endpoint is None:
        return response
    args = request.view_args or {}
    if endpoint == "status.login":
        if response.status_code in LOGIN:
            _record(request.form.get("username", "").strip().lower()[:64] or "admin", LOGIN[response.status_code])
    elif endpoint == "status.login_code":  # a user's second step (the session names them either way)
        if response.status_code in LOGIN:
            _record(session.get("user") or session.get("code_for") or "?", LOGIN[response.status_code])
    elif endpoint in API_ACTIONS and 200 <= response.status_code < 300:
        action, arg = API_ACTIONS[endpoint]
        answer = response.get_json(silent=True) or {}
        target = args[arg] if arg in args else answer.get(arg or "id", answer.get("name"))  # a path's, or the answer's
        key = g.get("api_key")
        _record(key.name if key is not None else "?", action, target)
    elif endpoint in PAGE_ACTIONS and response.status_code < 400 and not _flashed_error():
        action, arg = PAGE_ACTIONS[endpoint]
        _record(who()[0], action, args[arg] if arg in args else request.form.get(arg or "name"))
    return response


def _flashed_error() -> bool:
    flashes = session.get("_flashes") or []
    return bool(flashes) and flashes[-1][0] == "error"


def _record(actor: str, action: str, target=None) -> None:
    service().privacy.audit(actor, action, target=None if target is None else str(target),
                            remote_addr=request.remote_addr)


class AuditEntry(TypedDict):
    id: int
    at: str
    actor: Annotated[str, doc("the API key's name, the page's user ('admin': the admin password) or 'cli'")]
    action: Annotated[str, doc("key.created, key.rotated, key.revoked, user.added, user.removed, message.cancelled, "
                               "message.retried, modem.reset, webhook.added, webhook.deleted, number.erased, "
                               "user.password_changed, user.two_step_on, user.two_step_off, "
                               "login.succeeded, login.failed, login.throttled")]
    target: str | None
    remote_addr: str | None
    detail: str | None


class AuditPage(TypedDict):
    entries: list[AuditEntry]
    next_cursor: str | None


class Erasure(TypedDict):
    number: str
    erased: Annotated[dict[str, int], doc("what was emptied or deleted, counted by kind")]


def audit_json(entry: AuditRow) -> AuditEntry:
    return {"id": entry.id, "at": time_json(entry.at), "actor": entry.actor, "action": entry.action,
            "target": entry.target, "remote_addr": entry.remote_addr, "detail": entry.detail}


@bp.get("/audit")
@operation("Admin actions, newest first (admin scope)", AuditPage, errors=(400,), query=(CURSOR, LIMIT))
@requires("admin")
def list_audit():
    entries, cursor = service().privacy.list_audit(cursor=request.args.get("cursor"),
                                                   limit=request.args.get("limit", 50, type=int))
    return {"entries": [audit_json(e) for e in entries], "next_cursor": cursor}


@bp.delete("/numbers/<number>")
@operation("Erase everything about a number (admin scope): bodies, numbers, received SMS, events naming it, "
           "opt-out history; answers the counts", Erasure, errors=(400, 422))
@requires("admin")
def erase_number(number: str):
    erased = service().privacy.erase_number(number)
    return {"number": number, "erased": erased}
