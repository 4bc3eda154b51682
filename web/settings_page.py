"""The settings page (/settings): message templates, webhooks, the people who log in and the accounts (departments)
their sends count against, with what each has used of its quota, changed in the browser
rather than through the API, the CLI or the TOML file, all of which take effect at once: a template is read at each
send, a webhook at each event, a user at each request. Each webhook shows its latest deliveries with their
outcome. Behind the status page's login (its changes are an admin's); POST/redirect/GET."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from gateway.errors import GatewayError, ValidationError
from gateway.values import EVENT_TYPES, ROLES
from web import i18n, status
from web.session import account

bp = status.page_blueprint("settings", __name__)

DELIVERIES_SHOWN = 5


@bp.errorhandler(GatewayError)
def refused(exc: GatewayError):
    flash(i18n.refusal(exc), "error")
    return redirect(url_for("settings.settings"))


@bp.get("/settings")
def settings():
    receivers = status.service().receivers
    accounts = status.service().accounts.list_accounts()
    webhooks = [(hook, [(d, event_type) for d, (_, event_type), _ in
                        receivers.list_deliveries(hook.uid, limit=DELIVERIES_SHOWN)])
                for hook in receivers.list_webhooks()]
    return render_template("settings.html", **status.page_context(
        page="settings", templates=status.service().templates.list_templates(account()), webhooks=webhooks,
        event_types=EVENT_TYPES, users=status.service().admin.list_users(), roles=ROLES,
        accounts=accounts, account_names={a.id: a.name for a, _ in accounts},
        modems=status.service().modems.list_modems(), quiet=status.service().box_settings.quiet_hours(),
        routes=status.service().box_settings.route_rules()))


@bp.post("/settings/templates")
def add_template():
    form = request.form
    template = status.service().templates.add_template(form.get("name", ""), form.get("body", ""),
                                                       is_approved="approved" in form, account=account())
    flash(_("Template “%(name)s” added.", name=template.name), "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/templates/<name>")
def save_template(name: str):
    form = request.form
    status.service().templates.update_template(name, body=form.get("body", ""), is_approved="approved" in form,
                                               seen_by=account())
    flash(_("Template “%(name)s” saved.", name=name), "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/templates/<name>/delete")
def delete_template(name: str):
    status.service().templates.delete_template(name, account())
    flash(_("Template “%(name)s” deleted.", name=name), "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/webhooks")
def add_webhook():
    hook = status.service().receivers.add_webhook(request.form.get("url", "").strip(),
                                                  request.form.getlist("events"))
    flash(_("Webhook to %(url)s added. Its signing secret: %(secret)s (shown once; keep it with the receiver).",
            url=hook.url, secret=hook.secret), "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/webhooks/<uid>/delete")
def delete_webhook(uid: str):
    status.service().receivers.delete_webhook(uid)
    flash(_("Webhook deleted: no more events go to it."), "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/webhooks/<uid>/test")
def test_webhook(uid: str):
    receivers = status.service().receivers
    receivers.send_test(uid)
    flash(_("A test event is on its way to %(url)s: its outcome shows here in a moment.",
            url=receivers.get_webhook(uid).url), "ok")
    return redirect(url_for("settings.settings", _anchor="webhooks-title"))


@bp.post("/settings/modems/<name>")
def change_modem(name: str):
    form = request.form
    status.service().modems.change_modem(
        name, label=form.get("label", ""), group=form.get("group", "").strip() or None, cost=_amount(form, "cost"),
        max_per_minute=_whole(form, "max_per_minute"), max_per_hour=_whole(form, "max_per_hour"))
    flash(_("Modem %(name)s saved: it works so from now on (on another box, within a minute).", name=name), "ok")
    return redirect(url_for("settings.settings", _anchor="modems-title"))


@bp.post("/settings/routes")
def set_route_rules():
    """The route rules as lines of `match group [cost] [fallback]` ("+44 uk 0.02 intl"); empty: none."""
    if "as_config" in request.form:
        rules = None
    else:
        rules = []
        for line in request.form.get("rules", "").splitlines():
            words = line.split()
            if not words:
                continue
            cost = words[2] if len(words) > 2 else "0"
            try:
                price = float(cost)
            except ValueError:
                raise ValidationError(_("%(cost)s is not a cost (write: match group cost fallback)", cost=cost),
                                      field="rules") from None
            rules.append({"match": words[0], "group": words[1] if len(words) > 1 else "", "cost": price,
                          "fallback": words[3] if len(words) > 3 else ""})
    status.service().box_settings.set_route_rules(rules)
    flash(_("Route rules saved: new messages are placed by them."), "ok")
    return redirect(url_for("settings.settings", _anchor="routes-title"))


@bp.post("/settings/quiet-hours")
def set_quiet_hours():
    box = status.service().box_settings
    hours = box.set_quiet_hours(None if "as_config" in request.form else request.form.get("window", ""))
    flash(_("Marketing messages are held from %(window)s where each recipient lives.", window=hours["window"])
          if hours["window"] else _("Marketing messages are held at no hour."), "ok")
    return redirect(url_for("settings.settings", _anchor="quiet-title"))


@bp.post("/settings/users")
def add_user():
    form = request.form
    account = status.service().accounts.account_named(form["account"]) if form.get("account") else None
    user = status.service().admin.add_user(form.get("username", ""), form.get("role", ""), form.get("password", ""),
                                           account_id=account.id if account else None)
    if account:
        flash(_("%(user)s (%(role)s) may log in now; what they send counts against %(account)s.",
                user=user.username, role=i18n.role_label(user.role), account=account.name), "ok")
    else:
        flash(_("%(user)s (%(role)s) may log in now.", user=user.username, role=i18n.role_label(user.role)), "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/users/<username>/remove")
def remove_user(username: str):
    status.service().admin.remove_user(username)
    flash(_("%(user)s removed; their sessions have ended.", user=username), "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/users/<username>/two-step/off")
def turn_off_two_step(username: str):
    status.service().admin.turn_off_totp(username)
    flash(_("%(user)s logs in with the password alone now; their sessions have ended.", user=username), "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/accounts")
def add_account():
    form = request.form
    account = status.service().accounts.add_account(
        form.get("name", ""), per_day=_whole(form, "per_day"), per_month=_whole(form, "per_month"),
        budget=_amount(form, "budget"), routes=status.form_items("routes"))
    flash(_("Account “%(name)s” added.", name=account.name), "ok")
    return redirect(url_for("settings.settings"))


@bp.post("/settings/accounts/<name>/remove")
def remove_account(name: str):
    status.service().accounts.remove_account(name)
    flash(_("Account “%(name)s” removed; its people and keys count against no account now.", name=name), "ok")
    return redirect(url_for("settings.settings"))


def _whole(form, field: str) -> int | None:
    """A form's whole number (None when left empty); ValidationError for anything else."""
    text = form.get(field, "").strip()
    if not text:
        return None
    if not text.isdigit():
        said = {"per_day": _("per day must be a whole number"), "per_month": _("per month must be a whole number"),
                "max_per_minute": _("SMS a minute must be a whole number"),
                "max_per_hour": _("SMS an hour must be a whole number")}
        raise ValidationError(said.get(field, _("%(field)s must be a whole number", field=field)), field=field)
    return int(text)


def _amount(form, field: str) -> float | None:
    text = form.get(field, "").strip()
    try:
        return float(text) if text else None
    except ValueError:
        said = {"budget": _("budget must be a number"), "cost": _("cost must be a number")}
        raise ValidationError(said.get(field, _("%(field)s must be a number", field=field)), field=field) from None
