"""The contacts page: contacts with their groups and opt-out state, groups, and a CSV import with a column
mapping step (behind the status page's login, with its CSRF token on every form).

Thin views over `gateway.core.contacts.ContactBook`; every POST redirects back (POST/redirect/GET). A person of an
account sees and changes its account's contacts and groups only; one of no account sees every account's, each
marked with its account, and what they add goes in the box's own book."""

from __future__ import annotations

import csv
import io
import re

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from gateway.core.contacts import RESERVED_FIELDS, fields_of
from gateway.errors import GatewayError, ValidationError
from gateway.store.models import Account, ContactGroup
from web import i18n, status
from web.session import account

bp = status.page_blueprint("people", __name__)

MAX_IMPORT_BYTES = 4 * 1024 * 1024  # about 80,000 contacts of a school's or a clinic's export
PREVIEW_ROWS = 5
PAGE_ROWS = 200  # contacts listed at once: search or a group finds the others
IGNORE, NUMBER, NAME = "", "number", "name"


@bp.errorhandler(GatewayError)
def refused(exc: GatewayError):
    """A refused change: said on the page it came from (a contact's, or the list)."""
    flash(i18n.refusal(exc), "error")
    uid = request.view_args.get("uid") if request.view_args else None
    if request.endpoint == "people.save_contact" and uid:
        return redirect(url_for("people.contact", uid=uid))
    return redirect(url_for("people.contacts"))


@bp.get("/contacts")
def contacts():
    book, viewer = status.service().contacts, account()
    group_uid, search = request.args.get("group") or None, request.args.get("q", "").strip()
    groups = book.list_groups(viewer)
    shown, matching = book.find_contacts(group_uid, search, 0, PAGE_ROWS, viewer)
    opted_out = status.service().store.consent.suppressed_among([c.number for c, _ in shown])
    return render_template("contacts.html", **status.page_context(
        page="contacts", contacts=shown, matching=matching, total=book.count_contacts(viewer), groups=groups,
        own_groups=_in_book(groups, viewer.id if viewer else None), account_names=account_names(viewer),
        group_uid=group_uid, search=search, opted_out=opted_out, fields_of=fields_of))


@bp.post("/contacts")
def add_contact():
    form = request.form
    contact = status.service().contacts.add_contact(form.get("number", ""), form.get("name", ""),
                                                    parse_fields(form.get("fields", "")), form.getlist("groups"),
                                                    account())
    flash(_("%(name)s added.", name=contact.name or contact.number), "ok")
    return redirect(url_for("people.contacts"))


@bp.get("/contacts/<uid>")
def contact(uid: str):
    book, viewer = status.service().contacts, account()
    found, groups = book.get_contact(uid, viewer)
    consent = status.service().store.consent
    opted_out = bool(consent.suppressed_among([found.number]))
    return render_template("contact.html", **status.page_context(
        page="contacts", contact=found, in_groups=groups, groups=_in_book(book.list_groups(viewer), found.account_id),
        account_names=account_names(viewer), opted_out=opted_out,
        consent_history=consent.consent_history(found.number),
        fields_text="\n".join(f"{k}: {v}" for k, v in fields_of(found).items())))


@bp.post("/contacts/<uid>")
def save_contact(uid: str):
    form = request.form
    changes = {"number": form.get("number", ""), "name": form.get("name", ""),
               "fields": parse_fields(form.get("fields", ""))}
    saved = status.service().contacts.update_contact(uid, changes, form.getlist("groups"), account())
    if ("opted_out" in form) != bool(status.service().store.consent.suppressed_among([saved.number])):
        status.service().consent.set_consent(saved.number, opted_out="opted_out" in form, source="page")
    flash(_("%(name)s saved.", name=saved.name or saved.number), "ok")
    return redirect(url_for("people.contacts"))


@bp.post("/contacts/<uid>/delete")
def delete_contact(uid: str):
    book, viewer = status.service().contacts, account()
    gone = book.get_contact(uid, viewer)[0]
    book.delete_contact(uid, viewer)
    flash(_("%(name)s deleted.", name=gone.name or gone.number), "ok")
    return redirect(url_for("people.contacts"))


@bp.post("/groups")
def add_group():
    form = request.form
    group = status.service().contacts.add_group(form.get("name", ""), form.get("match_field", "").strip() or None,
                                                form.get("match_value", ""), account())
    flash(_("Group “%(name)s” added.", name=group.name), "ok")
    return redirect(url_for("people.contacts"))


@bp.post("/groups/<uid>/delete")
def delete_group(uid: str):
    book, viewer = status.service().contacts, account()
    group = book.get_group(uid, viewer)[0]
    book.delete_group(uid, viewer)
    flash(_("Group “%(name)s” deleted; its contacts stay.", name=group.name), "ok")
    return redirect(url_for("people.contacts"))


# --- import --------------------------------------------------------------------------------------


@bp.post("/contacts/import")
def import_upload():
    """Step 1: the uploaded CSV, shown with a choice per column of what it holds."""
    upload = request.files.get("file")
    raw = upload.read(MAX_IMPORT_BYTES + 1) if upload else b""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ValidationError(_("the file is over %(mb)d MB: split it", mb=MAX_IMPORT_BYTES // 1024 // 1024),
                              field="file")
    text = decode_csv(raw)
    header, rows = read_csv(text)
    viewer = account()
    return render_template("contacts_import.html", **status.page_context(
        page="contacts", csv_text=text, header=header, preview=rows[:PREVIEW_ROWS], row_count=len(rows),
        mapping=[guess_column(column) for column in header],
        groups=_in_book(status.service().contacts.list_groups(viewer), viewer.id if viewer else None)))


@bp.post("/contacts/import/run")
def import_run():
    """Step 2: the rows, mapped as chosen, into the contacts; a summary with the refused rows by line."""
    form = request.form
    header, rows = read_csv(form.get("csv", ""))
    mapping = [form.get(f"column-{i}", IGNORE) for i in range(len(header))]
    if NUMBER not in mapping:
        raise ValidationError(_("choose the column that holds the phone numbers"), field="mapping")
    entries = [_entry(row, mapping) for row in rows]
    result = status.service().contacts.import_contacts(entries, form.getlist("groups"), account())
    said = _("Imported %(added)d new contacts, updated %(updated)d.", added=result.added, updated=result.updated)
    if result.rejected:
        lines = "; ".join(_("line %(n)d: %(why)s", n=row + 1, why=why) for row, why in result.rejected[:20])
        n_refused, more = len(result.rejected), len(result.rejected) - 20
        flash(_("%(said)s %(n)d rows refused: %(lines)s (and %(more)d more).", said=said, n=n_refused, lines=lines,
                more=more) if more > 0 else
              _("%(said)s %(n)d rows refused: %(lines)s.", said=said, n=n_refused, lines=lines), "warn")
    else:
        flash(said, "ok")
    return redirect(url_for("people.contacts"))


def _in_book(groups: list[tuple[ContactGroup, int]], account_id: int | None) -> list[tuple[ContactGroup, int]]:
    """Those of `groups` in the book of the account `account_id` (None: the box's own): the ones its contacts
    can be put in."""
    return [(group, members) for group, members in groups if group.account_id == account_id]


def account_names(viewer: Account | None) -> dict[int, str] | None:
    """For a viewer of no account, who sees every book: the accounts' names by id, to say whose a contact or a
    group is (`forms.owner` in the templates); None for a person of an account, who sees its book only."""
    if viewer is not None:
        return None
    return {a.id: a.name for a in status.service().store.accounts.list_accounts()}


def _entry(row: list[str], mapping: list[str]) -> dict[str, str]:
    entry: dict[str, str] = {}
    for value, target in zip(row, mapping):
        if target and value.strip():
            entry[target.removeprefix("field:")] = value.strip()
    return entry


def decode_csv(raw: bytes) -> str:
    if not raw.strip():
        raise ValidationError(_("choose a CSV file with a header row"), field="file")
    for encoding in ("utf-8-sig", "cp1252"):  # Excel on Windows saves cp1252 unless asked otherwise
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(_("the file is neither UTF-8 nor Windows text: save it as CSV UTF-8"), field="file")


def read_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows (blank lines left out) of a CSV separated by commas, semicolons (Excel in
    much of Europe) or tabs: whichever the header line holds most of."""
    header_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max(",;\t", key=header_line.count)
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
                if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise ValidationError(_("the file is not a readable CSV: %(error)s", error=exc), field="file") from exc
    if len(rows) < 2:
        raise ValidationError(_("the file needs a header row and at least one contact"), field="file")
    return [c.strip() for c in rows[0]], rows[1:]


def guess_column(column: str) -> str:
    """What a column holds, guessed from its header: number, name, or a field named after it."""
    key = re.sub(r"[^a-z0-9]+", "_", column.casefold()).strip("_")
    if key in ("number", "phone", "mobile", "cell", "tel", "telephone", "phone_number", "mobile_number", "msisdn"):
        return NUMBER
    if key in ("name", "full_name", "contact", "contact_name"):
        return NAME
    field = key if key and not key[0].isdigit() else f"f_{key}"
    return IGNORE if not key or field in RESERVED_FIELDS else f"field:{field[:32]}"


def parse_fields(text: str) -> dict[str, str]:
    """The page's fields box: one `name: value` per line."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            name, sep, value = line.partition(":")
            if not sep:
                raise ValidationError(_("fields: write each as name: value (not %(line)r)", line=line.strip()),
                                      field="fields")
            fields[name.strip()] = value.strip()
    return fields
