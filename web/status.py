"""The status page: login, the dashboard, its JSON feed (/status.json) and the operator's actions.

Thin views over `gateway.core.service` (actions) and `gateway.store.stats` (figures). Every POST carries a
per-session CSRF token; the session cookie is HttpOnly, SameSite=Strict and Secure when configured.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import socket
from datetime import timedelta
from functools import wraps

from flask import Blueprint, Flask, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from gateway.version import VERSION
from gateway.config import Settings
from gateway.core.admin_auth import AdminAuth, LoginThrottle
from gateway.core.service import GatewayService
from gateway.errors import GatewayError, NotFound
from gateway.rules.apikeys import SCOPES
from gateway.rules.inbound import ReceivedFacts
from gateway.store.models import User
from gateway.store.stats import Stats
from gateway.values import ModemState
from web import i18n, metrics, status_feed
from web.session import account, is_logged_in, who
from web.api.rules import verdict_json

log = logging.getLogger(__name__)

bp = Blueprint("status", __name__)

SESSION_LIFETIME = timedelta(hours=12)
OPEN_ENDPOINTS = {"status.login", "status.login_code"}
CODE_STEP_S = 300  # how long after the password its second step may come
# what each role may do (POST); looking (GET) is everyone's. An admin may do anything.
OPERATOR_PAGES = {"people", "threads", "compose", "history"}  # contacts, conversations, sending, sent messages
OPERATOR_ACTIONS = {"status.cancel", "status.retry", "status.test_sms", "status.demo_inbound"}
EVERYONE_ACTIONS = {"status.logout", "status.test_rules"}  # trying the rules changes nothing
EVERYONE_PAGES = {"me"}  # one's own login


def may_act(role: str, endpoint: str) -> bool:
    """Whether `role` may POST to `endpoint` (see the sets above)."""
    if role == "admin" or endpoint in EVERYONE_ACTIONS or endpoint.split(".")[0] in EVERYONE_PAGES:
        return True
    return role == "operator" and (endpoint in OPERATOR_ACTIONS or endpoint.split(".")[0] in OPERATOR_PAGES)
JSON_ENDPOINTS = {"status.feed", "status.message_body", "status.inbox_body", "status.test_rules", "threads.poll"}


def _service() -> GatewayService:
    return current_app.extensions["smsgw.service"]


def service() -> GatewayService:
    """The gateway's service, for the pages of the other page modules (web/people.py, …)."""
    return _service()


def page_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint for more pages behind the status page's login: its CSRF check on every POST, its login, and
    its response headers (no caching, no framing, the content security policy)."""
    pages = Blueprint(name, import_name)
    pages.before_request(guard)
    pages.after_request(no_store)
    return pages


def _auth() -> AdminAuth:
    return current_app.extensions["smsgw.admin"]


def _stats() -> Stats:
    return current_app.extensions["smsgw.stats"]


def init_app(app: Flask, settings: Settings) -> None:
    """Session secret from the store (made once, so sessions survive restarts), cookie flags, the blueprint."""
    auth = app.extensions["smsgw.service"].admin
    app.extensions["smsgw.admin"] = auth
    app.extensions["smsgw.login_throttle"] = LoginThrottle()
    app.secret_key = auth.session_secret()
    app.config.update(SESSION_COOKIE_NAME="smsgw_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_SECURE=settings.server.cookie_secure or settings.server.is_tls,
                      PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME, SMSGW_SESSION_IDLE_S=settings.server.session_idle_s,
                      SESSION_REFRESH_EACH_REQUEST=False)  # the cookie is set when the session changes (session.py)
    app.register_blueprint(bp)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.before_request
def guard():
    """CSRF on every POST, then a logged-in session on everything but the login form."""
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            log.warning("status page: POST %s refused: CSRF token missing or wrong", request.path)
            return render_template("error.html", title=_("Form expired"),
                                   message=_("The form's security token is missing or out of date. "
                                             "Go back, reload the page and try again.")), 400
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if is_logged_in():
        actor, role = who()
        if request.method == "POST" and not may_act(role, request.endpoint or ""):
            log.warning("status page: %s (%s) may not %s", actor, role, request.path)
            return render_template("error.html", title=_("Not for your role"), message=_(
                "You are logged in as %(user)s (%(role)s): ask an admin to do this.", user=actor,
                role=i18n.role_label(role))), 403
        return None
    if request.endpoint in JSON_ENDPOINTS:
        return jsonify({"error": {"code": "unauthorized", "message": "log in to the status page",
                                  "field": None}}), 401
    return redirect(url_for("status.login"))


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; "
                                                   "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
    return response


@bp.errorhandler(GatewayError)
def refused(exc: GatewayError):
    """An action the service refused (a message no longer cancellable, a bad number): say so on the page."""
    if request.endpoint in JSON_ENDPOINTS:
        return jsonify({"error": {"code": exc.code, "message": exc.message, "field": exc.field}}), exc.http_status
    flash(i18n.refusal(exc), "error")
    return redirect(url_for("status.dashboard"))


def page_context(**extra):
    """What every page's template needs (the CSRF token, the box's name and release), and `extra`."""
    return {"csrf_token": csrf_token(), "hostname": socket.gethostname(), "me": who(),
            "demo": "smsgw.demo" in current_app.extensions, "version": VERSION, **extra}


# --- login ---------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", **page_context(
            has_password=_auth().has_password() or bool(_auth().list_users())))
    address = request.remote_addr or "?"
    refused = _throttled(address)
    if refused:
        return refused
    username, password = request.form.get("username", "").strip().lower(), request.form.get("password", "")
    user = _auth().check_user(username, password) if username else None
    if user is None and (username or not _auth().check_password(password)):
        return _login_failed(address, _("Wrong username or password.") if username else _("Wrong password."),
                             username=username)
    session.clear()  # a new session id and CSRF token after each step
    if user is not None and user.totp_secret:
        session.update(code_for=user.username, code_asked=_service().clock().timestamp(),
                       code_generation=_auth().user_generation(user.username))
        return render_template("login.html", **page_context(has_password=True, code_step=True))
    return _logged_in(address, user)


@bp.post("/login/code")
def login_code():
    """The second step of a user who has one: the code from their authenticator app, within a few minutes of
    their password, on the same browser."""
    address = request.remote_addr or "?"
    refused = _throttled(address)
    if refused:
        return refused
    username, asked = session.get("code_for"), session.get("code_asked")
    fresh = isinstance(asked, (int, float)) and _service().clock().timestamp() - asked < CODE_STEP_S
    if not isinstance(username, str) or not fresh or not hmac.compare_digest(
            session.get("code_generation") or "", _auth().user_generation(username) or ""):
        session.clear()
        return render_template("login.html", **page_context(
            has_password=True, error=_("That took too long: log in again."))), 401
    user = _auth().check_code(username, request.form.get("code", ""))
    if user is None:
        return _login_failed(address, _("Wrong code, or one already used: type the code the app shows now."),
                             code_step=True)
    return _logged_in(address, user)


def _throttled(address: str):
    throttle: LoginThrottle = current_app.extensions["smsgw.login_throttle"]
    wait_s = throttle.retry_after_s(address)
    if not wait_s:
        return None
    return render_template("login.html", **page_context(
        has_password=True, error=_("Too many failed attempts: try again in %(s)d s.", s=int(wait_s) + 1))), 429


def _login_failed(address: str, error: str, **shown):
    current_app.extensions["smsgw.login_throttle"].failed(address)
    log.warning("status page: failed login from %s", address)
    return render_template("login.html", **page_context(has_password=True, error=error, **shown)), 401


def _logged_in(address: str, user: User | None):
    """Open the session of `user` (None: the admin password's) and show the dashboard."""
    current_app.extensions["smsgw.login_throttle"].succeeded(address)
    session.clear()
    session.permanent = True
    if user is None:
        session["generation"] = _auth().password_generation()
    else:
        session.update(user=user.username, role=user.role, generation=_auth().user_generation(user.username))
        _auth().note_login(user.username)
    session["seen"] = _service().clock().timestamp()
    log.info("status page: %s logged in from %s", user.username if user else "admin", address)
    return redirect(url_for("status.dashboard"))


@bp.post("/logout")
def logout():
    """Ends every session, not only this browser's (a copied cookie stops working too)."""
    if is_logged_in():
        _auth().end_sessions()
    session.clear()
    return redirect(url_for("status.login"))


# --- the page and its feed -----------------------------------------------------------------------


@bp.get("/")
def dashboard():
    modems = _service().modems.list_modems()
    online = [m.name for m in modems if m.state == ModemState.ONLINE]
    return render_template("dashboard.html", **page_context(page="status", modems=modems, scopes=SCOPES,
                                                        test_modem=next(iter(online), None),
                                                        rules=_service().inbound_rules.list_rules(),
                                                        groups=_service().contacts.group_names()))


@bp.get("/status.json")
def feed():
    window = metrics.metrics_of(current_app).window
    return status_feed.status_json(_service(), _stats(), window.figures(),
                                   full_numbers=request.args.get("numbers") == "full", seen_by=account())


@bp.get("/status/messages/<uid>/body")
def message_body(uid: str):
    message = _service().messages.get_message(uid, account())
    log.info("status page: operator viewed the body of %s", uid)
    return {"id": message.uid, "body": message.body}


@bp.get("/status/inbox/<uid>/body")
def inbox_body(uid: str):
    item = _stats().inbox_message(uid)
    log.info("status page: operator viewed the text of %s", uid)
    return {"id": item.uid, "body": item.text}


# --- actions -------------------------------------------------------------------------------------


def action(view):
    """Run the action, then show the page again (POST-redirect-GET)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        flash(view(*args, **kwargs), "ok")
        return redirect(url_for("status.dashboard"))

    return wrapper


@bp.post("/status/messages/<uid>/cancel")
@action
def cancel(uid: str):
    _service().messages.cancel(uid, account())
    return _("Message %(uid)s cancelled.", uid=uid)


@bp.post("/status/messages/<uid>/retry")
@action
def retry(uid: str):
    _service().messages.retry(uid, account())
    return _("Message %(uid)s queued again.", uid=uid)


@bp.post("/status/modems/<name>/reset")
@action
def reset_modem(name: str):
    _service().modems.reset_modem(name)
    return _("Modem %(name)s is reconnecting.", name=name)


@bp.post("/status/test-sms")
@action
def test_sms():
    via = request.form.get("modem") or None
    [message] = _service().messages.send(request.form.get("to", ""), request.form.get("body", ""), via=via,
                                         account=account())
    if via:
        return _("Test SMS %(uid)s queued on %(modem)s.", uid=message.uid, modem=via)
    return _("Test SMS %(uid)s queued.", uid=message.uid)


@bp.post("/status/demo/inbound")
@action
def demo_inbound():
    modems = current_app.extensions.get("smsgw.demo")
    if modems is None:
        raise NotFound("only the demo receives SMS on request")
    sender = request.form.get("from", "")
    modem = modems.inbound(sender, request.form.get("text", ""), request.form.get("modem") or None)
    return _("An SMS from %(sender)s arrived on %(modem)s.", sender=sender, modem=modem)


@bp.post("/status/keys")
def create_key():
    """The new key's token is shown once, on the page the browser is sent back to (POST-redirect-GET: a reload
    makes no second key)."""
    scopes = request.form.getlist("scopes")
    key, token = _service().keys.create_key(request.form.get("name", ""), scopes)
    log.info("status page: API key %s (%s) created", key.id, key.name)
    flash(f"{key.name}\n{token}", "key")
    return redirect(url_for("status.dashboard"))


@bp.post("/status/keys/<int:key_id>/revoke")
@action
def revoke_key(key_id: int):
    key = _service().keys.revoke_key(key_id)
    return _("API key %(id)s (%(name)s) revoked.", id=key.id, name=key.name)


def form_items(field: str) -> list[str]:
    """A form's list: items separated by commas or new lines."""
    return [item.strip() for item in request.form.get(field, "").replace("\n", ",").split(",") if item.strip()]


# --- inbound rules -------------------------------------------------------------------------------


@bp.post("/status/rules")
@action
def add_rule():
    form = request.form
    values = {"name": form.get("name", ""), "keyword": form.get("keyword", "").strip() or None,
              "pattern": form.get("pattern") or None, "reply": form.get("reply", "").strip() or None,
              "forward_to": form_items("forward_to"), "email_to": form_items("email_to"),
              "senders": form_items("senders"),
              "stop": "stop" in form, "follow_up": "follow_up" in form,
              "sender_groups": [form["sender_group"]] if form.get("sender_group") else [],
              "add_to_group": form.get("add_to_group") or None,
              "remove_from_group": form.get("remove_from_group") or None}
    rule = _service().inbound_rules.add_rule(values)
    log.info("status page: inbound rule %s (%s) added", rule.uid, rule.name)
    return _("Rule “%(name)s” added.", name=rule.name)


@bp.post("/status/rules/<uid>/toggle")
@action
def toggle_rule(uid: str):
    rules = _service().inbound_rules
    rule = rules.update_rule(uid, {"enabled": not rules.get_rule(uid).enabled})
    if rule.enabled:
        return _("Rule “%(name)s” enabled.", name=rule.name)
    return _("Rule “%(name)s” paused.", name=rule.name)


@bp.post("/status/rules/<uid>/delete")
@action
def delete_rule(uid: str):
    rules = _service().inbound_rules
    name = rules.get_rule(uid).name
    rules.delete_rule(uid)
    return _("Rule “%(name)s” deleted.", name=name)


@bp.post("/status/rules/test")
def test_rules():
    """The page's test box: what each rule would do with a made-up SMS, as JSON (nothing is sent)."""
    facts = ReceivedFacts(sender=request.form.get("sender", "").strip(), text=request.form.get("text", ""),
                          modem=request.form.get("modem", ""), recipient=None, at=_service().clock())
    return {"verdicts": [verdict_json(v) for v in _service().inbound_rules.judge(facts, apply_guards=False)]}
