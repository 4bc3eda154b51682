"""Contacts and contact groups: the people the box's users write to, and named sets of them."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from flask import Blueprint, g, request
from msgspec import field

from gateway.core.contacts import fields_of
from gateway.errors import ValidationError
from gateway.representations import time_json
from gateway.store.models import Contact as ContactRow
from gateway.store.models import ContactGroup
from web.api.access import requires, seen_by, service
from web.api.batches import Batch, batch_json
from web.api.idempotency import idempotent
from web.api.messages import CLASSES
from web.api.openapi import CURSOR, LIMIT, Param, operation
from web.schemas import UNSET, Request, UnsetType, decode, doc, given

bp = Blueprint("contacts", __name__, url_prefix="/api/v1")

NUMBER = doc("E.164, or national in [messaging] default_region", example="+447911123456")
FIELDS = doc("short texts its messages' templates may use by name, e.g. {\"child\": \"Amelia\"}")
GROUPS = doc("names of existing groups it is in (replaces them all)")
GROUP_PARAM = Param("group", {"type": "string"}, "only the members of this group (its id)")
SEARCH = Param("q", {"type": "string"}, "only contacts whose name or number holds this (case ignored)")


class ContactRequest(Request, kw_only=True):
    number: Annotated[str, NUMBER]
    name: Annotated[str, doc(maxLength=100)] = ""
    fields: Annotated[dict[str, str], FIELDS] | UnsetType = UNSET
    groups: Annotated[list[str], GROUPS] | UnsetType = UNSET


class ContactUpdate(Request):
    number: Annotated[str, NUMBER] | UnsetType = UNSET
    name: Annotated[str, doc(maxLength=100)] | UnsetType = UNSET
    fields: Annotated[dict[str, str], FIELDS] | UnsetType = UNSET
    groups: Annotated[list[str], GROUPS] | UnsetType = UNSET


class GroupMatch(Request):
    """A dynamic group's rule: the contacts whose field `field` is `value` (whatever the case)."""

    field: Annotated[str, doc(minLength=1, maxLength=32)]
    value: Annotated[str, doc(minLength=1, maxLength=500)]


class GroupRequest(Request):
    name: Annotated[str, doc(minLength=1, maxLength=100)]
    match: Annotated[GroupMatch, doc("make it dynamic: its members follow this rule")] | UnsetType = UNSET


class MembersRequest(Request):
    contacts: Annotated[list[str], doc("contact ids")]


class Contact(TypedDict):
    id: str
    number: str
    name: str
    fields: dict[str, str]
    groups: list[str]
    created_at: str
    updated_at: str


class ContactList(TypedDict):
    contacts: list[Contact]
    next_cursor: str | None


class GroupRule(TypedDict):
    field: str
    value: str


class Group(TypedDict):
    id: str
    name: str
    members: int
    created_at: str
    match: Annotated[GroupRule | None, doc("a dynamic group's rule (its members cannot be chosen by hand)")]


class GroupList(TypedDict):
    groups: list[Group]


class MembersAdded(TypedDict):
    added: Annotated[int, doc("contacts that were not in the group already")]
    members: int


def contact_json(contact: ContactRow, groups: list[str]) -> Contact:
    return {"id": contact.uid, "number": contact.number, "name": contact.name, "fields": fields_of(contact),
            "groups": groups, "created_at": time_json(contact.created_at), "updated_at": time_json(contact.updated_at)}


def group_json(group: ContactGroup, members: int) -> Group:
    match: GroupRule | None = None
    if group.match_field is not None:
        match = {"field": group.match_field, "value": group.match_value or ""}
    return {"id": group.uid, "name": group.name, "members": members, "created_at": time_json(group.created_at),
            "match": match}


@bp.get("/contacts")
@operation("Contacts, oldest first: a key of an account sees its account's only", ContactList, errors=(400, 404),
           query=(GROUP_PARAM, SEARCH, CURSOR, LIMIT))
@requires("read")
def list_contacts():
    limit = request.args.get("limit", 50, type=int)
    start = request.args.get("cursor", "0")
    if not start.isdigit() or not 1 <= limit <= 200:
        raise ValidationError("cursor must be a next_cursor, limit 1 to 200", field="cursor")
    page, total = service().contacts.find_contacts(request.args.get("group"), request.args.get("q"), int(start),
                                                   limit, seen_by())
    more = int(start) + limit < total
    return {"contacts": [contact_json(c, g) for c, g in page], "next_cursor": str(int(start) + limit) if more else None}


@bp.post("/contacts")
@operation("Add a contact (a key of an account adds it to its account's contacts)", Contact, status=201,
           body=ContactRequest, errors=(400, 404, 409, 422))
@requires("send")
def add_contact():
    new = decode(request.get_data(cache=False), ContactRequest)
    contacts, account = service().contacts, seen_by()
    contact = contacts.add_contact(new.number, new.name, given(new.fields), given(new.groups), account)
    location = {"Location": f"{bp.url_prefix}/contacts/{contact.uid}"}
    return contact_json(*contacts.get_contact(contact.uid, account)), 201, location


@bp.get("/contacts/<uid>")
@operation("A contact", Contact, errors=(404,))
@requires("read")
def get_contact(uid: str):
    return contact_json(*service().contacts.get_contact(uid, seen_by()))


@bp.patch("/contacts/<uid>")
@operation("Change a contact (what is given)", Contact, body=ContactUpdate, errors=(400, 404, 409, 422))
@requires("send")
def update_contact(uid: str):
    change = decode(request.get_data(cache=False), ContactUpdate)
    values: dict[str, Any] = {name: getattr(change, name) for name in ("number", "name", "fields")
                              if getattr(change, name) is not UNSET}
    contacts, account = service().contacts, seen_by()
    contacts.update_contact(uid, values, given(change.groups), account)
    return contact_json(*contacts.get_contact(uid, account))


@bp.delete("/contacts/<uid>")
@operation("Delete a contact (its messages stay)", status=204, errors=(404,))
@requires("send")
def delete_contact(uid: str):
    service().contacts.delete_contact(uid, seen_by())
    return "", 204


@bp.get("/groups")
@operation("Contact groups, by name, with their number of members: a key of an account sees its account's only",
           GroupList)
@requires("read")
def list_groups():
    return {"groups": [group_json(g, n) for g, n in service().contacts.list_groups(seen_by())]}


@bp.post("/groups")
@operation("Add a contact group (with `match`, a dynamic one); a key of an account adds it to its account's", Group,
           status=201, body=GroupRequest, errors=(400, 409))
@requires("send")
def add_group():
    new = decode(request.get_data(cache=False), GroupRequest)
    match = given(new.match)
    contacts, account = service().contacts, seen_by()
    group = contacts.add_group(new.name, match and match.field, match and match.value, account)
    return group_json(*contacts.get_group(group.uid, account)), 201, {"Location": f"{bp.url_prefix}/groups/{group.uid}"}


@bp.get("/groups/<uid>")
@operation("A contact group (its members: GET /api/v1/contacts?group=id)", Group, errors=(404,))
@requires("read")
def get_group(uid: str):
    return group_json(*service().contacts.get_group(uid, seen_by()))


@bp.delete("/groups/<uid>")
@operation("Delete a contact group (its contacts stay)", status=204, errors=(404,))
@requires("send")
def delete_group(uid: str):
    service().contacts.delete_group(uid, seen_by())
    return "", 204


@bp.post("/groups/<uid>/members")
@operation("Put contacts of the group's account in it", MembersAdded, body=MembersRequest, errors=(400, 404))
@requires("send")
def add_members(uid: str):
    contacts, account = service().contacts, seen_by()
    added = contacts.add_members(uid, decode(request.get_data(cache=False), MembersRequest).contacts, account)
    return {"added": added, "members": contacts.get_group(uid, account)[1]}


@bp.delete("/groups/<uid>/members/<contact_uid>")
@operation("Take a contact out of a group", status=204, errors=(404,))
@requires("send")
def remove_member(uid: str, contact_uid: str):
    service().contacts.remove_member(uid, contact_uid, seen_by())
    return "", 204


class GroupMessage(Request):
    body: Annotated[str, doc("text with {name}, {number} and the contacts' fields, e.g. \"Dear {name}, ...\"")] \
        | UnsetType = UNSET
    template: Annotated[str, doc("a template to fill the same way, instead of body")] | UnsetType = UNSET
    message_class: Annotated[str, doc("marketing messages wait out the recipients' quiet hours and skip opted-out "
                                      "members", enum=CLASSES)] | UnsetType = field(default=UNSET, name="class")
    send_at: Annotated[str, doc("hold them until then: ISO 8601, with an offset or a time_zone")] | UnsetType = UNSET
    time_zone: Annotated[str, doc("IANA zone name for a send_at without offset, or \"recipient\": that time where "
                                  "each recipient lives")] | UnsetType = UNSET


@bp.post("/groups/<uid>/messages")
@operation("Queue one bulk-priority message per member of the group, its text filled from the contact; members "
           "missing a field it uses are reported (GET /api/v1/batches/<id> follows it)", Batch, status=202,
           body=GroupMessage, errors=(400, 404, 409, 422))
@requires("send")
@idempotent
def send_to_group(uid: str):
    message = decode(request.get_data(cache=False), GroupMessage)
    batch, counts = service().batches.send_to_contacts(
        service().contacts.recipients(uid, seen_by()), body=given(message.body), template=given(message.template),
        message_class=given(message.message_class), send_at=given(message.send_at), time_zone=given(message.time_zone),
        api_key=g.api_key)
    return batch_json(batch, counts), 202, {"Location": f"/api/v1/batches/{batch.uid}"}
