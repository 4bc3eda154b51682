"""The sent-messages page (/sent: /messages is the SMS Gateway for Android door's): what the box sent, filtered
by state, number, modem, date or campaign, and one message's whole story (its parts with their modem and network
reference, every state it went through, the delivery of each event about it to webhooks and callbacks), with
retry and cancel where they apply.

Thin views over `gateway.core.messages.Messages` and `gateway.core.receivers.Receivers`; actions follow
POST/redirect/GET."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from gateway.errors import GatewayError
from gateway.values import CANCELLABLE, RETRYABLE, MessageState
from web import i18n, status
from web.session import account

bp = status.page_blueprint("history", __name__)

PAGE = 50
FILTERS = ("status", "to", "modem", "since", "batch")


@bp.errorhandler(GatewayError)
def refused(exc: GatewayError):
    flash(i18n.refusal(exc), "error")
    uid = (request.view_args or {}).get("uid")
    return redirect(url_for("history.story", uid=uid) if uid and request.method == "POST"
                    else url_for("history.messages"))


@bp.get("/sent")
def messages():
    chosen = {name: request.args.get(name, "").strip() for name in FILTERS}
    page, cursor = status.service().messages.list_messages(
        state=chosen["status"] or None, to=chosen["to"] or None, modem=chosen["modem"] or None,
        since=chosen["since"] or None, batch=chosen["batch"] or None, cursor=request.args.get("cursor"), limit=PAGE,
        seen_by=account())
    older = (url_for("history.messages") + "?" + urlencode({**{k: v for k, v in chosen.items() if v}, "cursor": cursor})
             if cursor else None)
    return render_template("messages.html", **status.page_context(
        page="messages", messages=page, chosen=chosen, older=older, states=[s.value for s in MessageState],
        modems=[m.name for m in status.service().modems.list_modems()],
        names=status.service().contacts.names_of(list({m.to_number for m in page if m.to_number}), account())))


@bp.get("/sent/<uid>")
def story(uid: str):
    message = status.service().messages.get_message(uid, account())
    number = message.to_number
    return render_template("message.html", **status.page_context(
        page="messages", message=message, deliveries=status.service().receivers.deliveries_about(uid),
        name=status.service().contacts.names_of([number], account()).get(number) if number else None,
        cancellable=message.state in CANCELLABLE, retryable=message.state in RETRYABLE))


@bp.post("/sent/<uid>/cancel")
def cancel(uid: str):
    status.service().messages.cancel(uid, account())
    flash(_("Cancelled."), "ok")
    return redirect(url_for("history.story", uid=uid))


@bp.post("/sent/<uid>/retry")
def retry(uid: str):
    status.service().messages.retry(uid, account())
    flash(_("Queued again."), "ok")
    return redirect(url_for("history.story", uid=uid))
