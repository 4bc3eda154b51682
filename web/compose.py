"""Compose and campaigns: one text to numbers and contact groups at once, reviewed before it goes (who gets
it after de-duplication, who is opted out or lacks a field the text uses, one message as it will read), then
followed on its campaign page (the batch's messages by state, live).

Thin views over `gateway.core.contacts.ContactBook.audience` and `gateway.core.batches.Batches`: the groups and
contacts are those of the sender's account (every account's groups for one of no account, their own book's
contacts)."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from gateway.errors import GatewayError, RecipientOptedOut, TemplateParamsError, ValidationError
from gateway.rules.spreadsheet import safe_cell
from gateway.rules.timing import RECIPIENT_ZONE, parse_send_at
from gateway.store.models import Account
from web import i18n, status
from web.people import account_names
from web.session import account

bp = status.page_blueprint("compose", __name__)

CLASSES = ("transactional", "marketing")


@bp.errorhandler(GatewayError)
def refused(exc: GatewayError):
    flash(i18n.refusal(exc), "error")
    return _form(status_code=400)


@bp.route("/compose", methods=["GET", "POST"])
def compose():
    """The form; a POST (the review's "Change") brings back what was written."""
    return _form()


@bp.post("/compose/review")
def review():
    """Who would get the text and how it reads, before anything is queued."""
    draft, charged = _draft(), account()
    recipients, unreadable = status.service().contacts.audience(draft["numbers"], draft["groups"], charged)
    if not recipients:
        raise ValidationError(_("choose at least one group or write at least one number that can be read"),
                              field="to")
    service = status.service()
    going, rejected = service.batches.plan_for_contacts(recipients, body=draft["body"], message_class=draft["class"])
    left_out = {code: [recipients[r["row"] - 1] for r in rejected if r["code"] == code]
                for code in {r["code"] for r in rejected}}
    cost = service.batches.cost_estimate(going, charged)
    parts = sum(segmentation.part_count for *_rest, segmentation in going)
    return render_template("compose_review.html", **status.page_context(
        page="compose", draft=draft, recipients=recipients, unreadable=unreadable, going=going,
        lacking=left_out.pop(TemplateParamsError.code, []), excluded=left_out.pop(RecipientOptedOut.code, []),
        others=[r for r in rejected if r["code"] in left_out], cost=cost, parts=parts,
        headroom=None if charged is None else _headroom(charged, parts, cost),
        opted_out=[] if service.consent.applies_to(draft["class"])  # then they are among the excluded
        else service.store.consent.suppressed_among([r[0] for r in recipients])))


@bp.post("/compose/send")
def send():
    draft, charged = _draft(), account()
    recipients, _unreadable = status.service().contacts.audience(draft["numbers"], draft["groups"], charged)
    batch, _rows = status.service().batches.send_to_contacts(
        recipients, body=draft["body"], message_class=draft["class"], send_at=draft["send_at"],
        time_zone=draft["time_zone"], account=charged)
    flash(_("%(n)d messages queued.", n=batch.accepted), "ok")
    return redirect(url_for("compose.campaign", uid=batch.uid))


@bp.get("/campaigns/<uid>")
def campaign(uid: str):
    batch, counts = status.service().batches.get_batch(uid, account())
    return render_template("campaign.html", **status.page_context(page="compose", batch=batch, counts=counts,
                                                                   rejected=_rejected(batch.rejected)))


@bp.post("/campaigns/<uid>/cancel")
def cancel_campaign(uid: str):
    cancelled = status.service().batches.cancel_batch(uid, account())
    flash(_("%(n)d messages not yet sent were cancelled.", n=cancelled), "ok")
    return redirect(url_for("compose.campaign", uid=uid))


@bp.post("/campaigns/<uid>/retry")
def retry_campaign(uid: str):
    flash(_("%(n)d failed messages were queued again.", n=status.service().batches.retry_failed(uid, account())), "ok")
    return redirect(url_for("compose.campaign", uid=uid))


@bp.get("/campaigns/<uid>.csv")
def campaign_csv(uid: str):
    """Each message of the campaign and what became of it, for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["to", "state", "modem", "parts", "queued_at", "sent_at", "error"])  # data: stays English
    for m in status.service().batches.batch_messages(uid, account()):
        writer.writerow([safe_cell(v) for v in (m.to_number, m.state.value, m.modem or "", m.part_count,
                                                   m.created_at.isoformat(), m.sent_at.isoformat() if m.sent_at else "",
                                                   m.error_message or "")])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="campaign-{uid}.csv"'})


def _form(status_code: int = 200):
    form, viewer = request.form, account()
    return render_template("compose.html", **status.page_context(
        page="compose", groups=status.service().contacts.list_groups(viewer), account_names=account_names(viewer),
        chosen=form.getlist("groups"), numbers=form.get("numbers", ""), body=form.get("body", ""),
        message_class=form.get("class", ""), send_at=form.get("send_at", ""), time_zone=form.get("time_zone", ""),
        templates=status.service().templates.list_templates(viewer))), status_code


def _draft() -> dict[str, Any]:
    form = request.form
    body = form.get("body", "")
    if not body.strip():
        raise ValidationError(_("write the message"), field="body")
    message_class = form.get("class") or "transactional"
    if message_class not in CLASSES:
        raise ValidationError(_("class must be transactional or marketing"), field="class")
    numbers = [n.strip() for n in re.split(r"[\n,;]", form.get("numbers", "")) if n.strip()]
    send_at = form.get("send_at", "").strip() or None
    time_zone = None
    if send_at:
        time_zone = RECIPIENT_ZONE if form.get("recipient_time") else form.get("time_zone", "").strip() or "UTC"
    return {"numbers": numbers, "numbers_text": form.get("numbers", ""), "groups": form.getlist("groups"),
            "body": body, "class": message_class, "send_at": send_at, "time_zone": time_zone,
            "hold_until": parse_send_at(send_at, "UTC" if time_zone == RECIPIENT_ZONE else time_zone)}


def _rejected(stored: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(stored)
    return rows


def _headroom(charged: Account, parts: int, cost: float) -> tuple[bool, str]:
    """Whether `parts` more SMS parts costing `cost` fit in the account's quota now, and a sentence saying what it
    has used (or which of its limits they would pass)."""
    use, refusal = status.service().accounts.headroom(charged, parts, cost)
    if refusal is not None:
        return False, i18n.refusal(refusal)
    used = [_("%(used)d of %(limit)d SMS parts today", used=use.day_parts, limit=charged.per_day)
            if charged.per_day is not None else "",
            _("%(used)d of %(limit)d this month", used=use.month_parts, limit=charged.per_month)
            if charged.per_month is not None else "",
            _("%(used)s of %(limit)s of its budget", used=format(use.month_cost, "g"),
              limit=format(charged.budget, "g"))
            if charged.budget is not None else ""]
    return True, _("Account %(name)s: %(used)s; this needs %(parts)d.", name=charged.name,
                   used=", ".join(filter(None, used)) or _("no limit"), parts=parts)
