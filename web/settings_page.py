"""The settings page (/settings): message templates, webhooks, the people who log in and the accounts (departments)
their sends count against, with what each has used of its quota, changed in the browser
rather than through the API, the CLI or the TOML file, all of which take effect at once: a template is read at each
send, a webhook at each event, a user at each request. Each webhook shows its latest deliveries with their
outcome. Behind the status page's login (its changes are an admin's); POST/redirect/GET."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from gateway.errors import GatewayError, ValidationError
from gateway.values import EVENT_TYPES, ROLES
from web import status

bp = status.page_blueprint("settings", __name__)

DELIVERIES_SHOWN = 5


@bp.errorhandler(GatewayError)
def refused(exc: GatewayError):
    flash(exc.message, "error")
    return redirect(url_for("settings.settings"))


@bp.get("/settings")
def settings():
    receivers = status.service().receivers
    accounts = status.service().accounts.list_accounts()
    webhooks = [(hook, [d for d, _, _ in receivers.list_deliveries(hook.uid, limit=DELIVERIES_SHOWN)])
                for hook in receivers.list_webhooks()]
    return render_template("settings.html", **status.page_context(
        page="settings", templates=status.service().templates.list_templates(), webhooks=webhooks,
        event_types=EVENT_TYPES, users=status.service().admin.list_users(), roles=ROLES,
        accounts=accounts, account_names={a.id: a.name for a, _ in accounts}))


@bp.post("/settings/templates")
def add_template():
    form = request.form
    template = status.service().templates.add_template(form.get("name", ""), form.get("body", ""),
                                                       is_approved="approved" in form)
    flash(f"Template “{template.name}” added.", "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/templates/<name>")
def save_template(name: str):
    form = request.form
    status.service().templates.update_template(name, body=form.get("body", ""), is_approved="approved" in form)
    flash(f"Template “{name}” saved.", "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/templates/<name>/delete")
def delete_template(name: str):
    status.service().templates.delete_template(name)
    flash(f"Template “{name}” deleted.", "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/webhooks")
def add_webhook():
    hook = status.service().receivers.add_webhook(request.form.get("url", "").strip(),
                                                  request.form.getlist("events"))
    flash(f"Webhook to {hook.url} added. Its signing secret: {hook.secret} (shown once; keep it with the receiver).",
          "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/webhooks/<uid>/delete")
def delete_webhook(uid: str):
    status.service().receivers.delete_webhook(uid)
    flash("Webhook deleted: no more events go to it.", "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/users")
def add_user():
    form = request.form
    account = status.service().accounts.account_named(form["account"]) if form.get("account") else None
    user = status.service().admin.add_user(form.get("username", ""), form.get("role", ""), form.get("password", ""),
                                           account_id=account.id if account else None)
    counted = f"; what they send counts against {account.name}" if account else ""
    flash(f"{user.username} ({user.role}) may log in now{counted}.", "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/users/<username>/remove")
def remove_user(username: str):
    status.service().admin.remove_user(username)
    flash(f"{username} removed; their sessions have ended.", "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/users/<username>/two-step/off")
def turn_off_two_step(username: str):
    status.service().admin.turn_off_totp(username)
    flash(f"{username} logs in with the password alone now; their sessions have ended.", "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/accounts")
def add_account():
    form = request.form
    account = status.service().accounts.add_account(
        form.get("name", ""), per_day=_whole(form, "per_day"), per_month=_whole(form, "per_month"),
        budget=_amount(form, "budget"), routes=status.form_items("routes"))
    flash(f"Account “{account.name}” added.", "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/accounts/<name>/remove")
def remove_account(name: str):
    status.service().accounts.remove_account(name)
    flash(f"Account “{name}” removed; its people and keys count against no account now.", "ok")
    return redirect(url_for("settings.settings"))


def _whole(form, field: str) -> int | None:
    """A form's whole number (None when left empty); ValidationError for anything else."""
    text = form.get(field, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValidationError(f"{field.replace('_', ' ')} must be a whole number", field=field)
    return int(text)


def _amount(form, field: str) -> float | None:
    text = form.get(field, "").strip()
    try:
        return float(text) if text else None
    except ValueError:
        raise ValidationError(f"{field} must be a number", field=field) from None
