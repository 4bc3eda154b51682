"""Your login (/me): the logged-in user changes their own password, turns their second login step (a code from
an authenticator app) on or off, and chooses the pages' language for their browser. Open to every role; a change
to one's own login ends one's other sessions and keeps this one. POST/redirect/GET."""

from __future__ import annotations

import socket

import segno
from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from gateway.core.admin_auth import MIN_PASSWORD_LENGTH
from gateway.errors import ValidationError
from web import i18n, status
from web.session import renew, who

bp = status.page_blueprint("me", __name__)

NEW_SECRET = "totp_new"  # the session key of a secret shown to the user, kept until a code of it is accepted


@bp.get("/me")
def me():
    user = status.service().admin.user(who()[0]) if session.get("user") else None
    new_secret, qr = session.get(NEW_SECRET), None
    if user is not None and not user.totp_secret and isinstance(new_secret, str):
        address = status.service().admin.totp_uri(user.username, new_secret, socket.gethostname())
        qr = segno.make(address, error="m").svg_data_uri(scale=5, border=2)
    account = status.service().accounts.of_user(user.username) if user else None
    return render_template("me.html", **status.page_context(
        page="me", user=user, account=account, new_secret=new_secret if qr else None, qr=qr,
        chosen_language=request.cookies.get(i18n.COOKIE, "")))


@bp.post("/me/password")
def change_password():
    form = request.form
    if form.get("new", "") != form.get("repeat", ""):
        return _refused(_("The new password and its repetition differ."))
    status.service().admin.change_password(_username(), form.get("current", ""), form.get("new", ""))
    renew()
    flash(_("Password changed; your other sessions have ended."), "ok")
    return redirect(url_for("me.me"))


@bp.post("/me/two-step/start")
def start_two_step():
    _username()
    session[NEW_SECRET] = status.service().admin.new_totp_secret()
    return redirect(url_for("me.me", _anchor="two-step"))


@bp.post("/me/two-step")
def turn_on_two_step():
    secret = session.get(NEW_SECRET)
    if not isinstance(secret, str):
        return _refused(_("Start again: no code was being set up."))
    status.service().admin.turn_on_totp(_username(), secret, request.form.get("code", ""))
    session.pop(NEW_SECRET)
    renew()
    flash(_("Two-step login is on: from now on you log in with your password and a code from the app."), "ok")
    return redirect(url_for("me.me"))


@bp.post("/me/two-step/off")
def turn_off_two_step():
    username = _username()
    if status.service().admin.check_code(username, request.form.get("code", "")) is None:
        return _refused(_("Wrong code, or one already used: type the code the app shows now."))
    status.service().admin.turn_off_totp(username)
    renew()
    flash(_("Two-step login is off: your password alone opens your login."), "ok")
    return redirect(url_for("me.me"))


@bp.post("/me/language")
def choose_language():
    """The pages' language in this browser (a cookie: it outlives sessions); empty: as the browser asks."""
    chosen = request.form.get("lang", "")
    response = redirect(url_for("me.me"))
    if chosen in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, chosen, max_age=i18n.COOKIE_AGE_S, samesite="Strict", httponly=True)
    else:
        response.delete_cookie(i18n.COOKIE)
    return response


@bp.errorhandler(ValidationError)
def refused(exc: ValidationError) -> Response:
    """The page's own words for what the login's checks refused (the checks' own are English)."""
    said = {"code": _("That code does not match: check that the phone's clock is right and type the code the app "
                      "shows now."),
            "current": _("That is not your current password."),
            "password": _("A password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)}
    return _refused(said.get(exc.field or "", i18n.refusal(exc)))


def _refused(text: str) -> Response:
    flash(text, "error")
    return redirect(url_for("me.me"))


def _username() -> str:
    """The logged-in user's name; the admin password has no login of its own to change here."""
    username = session.get("user")
    if not isinstance(username, str):
        raise ValidationError(_("The admin password is changed on the box: smsgw admin password"))
    return username
