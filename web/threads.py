"""The conversations page: every number the box has exchanged SMS with, the latest first with its unread count,
and one exchange as a thread with a reply box (the encoding and parts counted as you type; which SIM it leaves
from). Opening a thread marks what came in as read. The page polls /conversations/poll for what is new.

Thin views over `gateway.core.messages.Messages`; the reply follows POST/redirect/GET."""

from __future__ import annotations

from urllib.parse import quote

from flask import flash, redirect, render_template, request, url_for
from flask_babel import ngettext

from gateway.errors import GatewayError
from gateway.store.models import InboxMessage, Message
from gateway.values import ModemState
from web import i18n, status
from web.session import account

bp = status.page_blueprint("threads", __name__)

THREADS = 50  # conversations listed
MESSAGES = 100  # of one conversation, the latest


@bp.errorhandler(GatewayError)
def refused(exc: GatewayError):
    flash(i18n.refusal(exc), "error")
    number = (request.view_args or {}).get("number")
    return redirect(_thread_url(number) if number and request.method == "POST" else url_for("threads.inbox"))


def _thread_url(number: str) -> str:
    return "/conversations/" + quote(number, safe="")


@bp.get("/conversations")
def inbox():
    if request.args.get("to"):  # the "write to a number" box
        return redirect(_thread_url(status.service().messages.party(request.args["to"])))
    return _page(None)


@bp.get("/conversations/<path:number>")
def thread(number: str):
    party = status.service().messages.party(number)
    if party != number:  # national form, spaces: one address per conversation
        return redirect(_thread_url(party))
    status.service().messages.mark_read(party)
    return _page(party)


@bp.post("/conversations/<path:number>")
def reply(number: str):
    party = status.service().messages.party(number)
    [message] = status.service().messages.send(party, request.form.get("body", ""), via=request.form.get("via") or None,
                                               account=account())
    flash(ngettext("Sent to the queue (%(num)d part).", "Sent to the queue (%(num)d parts).", message.part_count), "ok")
    return redirect(_thread_url(party))


@bp.get("/conversations/poll")
def poll():
    """What the open page shows, rendered again: the list, and the open thread (marked read: it is in view)."""
    number = request.args.get("number") or None
    if number:
        status.service().messages.mark_read(number)
    threads, names = _threads()
    return {"threads": render_template("_threads.html", threads=threads, names=names, selected=number,
                                       thread_url=_thread_url),
            "thread": render_template("_thread.html", items=_items(number)) if number else None}


def _page(number: str | None):
    threads, names = _threads(number)
    modems = status.service().modems.list_modems()
    return render_template("conversations.html", **status.page_context(
        page="conversations", threads=threads, names=names, selected=number, items=_items(number),
        name=names.get(number) if number else None, thread_url=_thread_url,
        modems=modems, online={m.name for m in modems if m.state == ModemState.ONLINE},
        templates=[t for t in status.service().templates.list_templates(account()) if t.is_approved or not
                   status.service().settings.require_approved_templates]))


def _threads(selected: str | None = None):
    """The latest threads and the names the viewer's contacts give their numbers (and the open thread's, which may
    be older)."""
    threads = status.service().messages.threads(THREADS)
    numbers = [t.number for t in threads] + ([selected] if selected else [])
    return threads, status.service().contacts.names_of(numbers, account())


def _items(number: str | None) -> list[Message | InboxMessage]:
    return status.service().messages.conversation(number, limit=MESSAGES) if number else []
