"""Contacts and contact groups (gateway/core/contacts.py checks what comes in), and the group changes an inbound
rule makes inside its run's transaction (`join_group`, `leave_group`).

A dynamic group's member rows are kept in step with its rule by every write that sets a contact's fields
(`_follow_rules`), so every read (lists, counts, searches, an inbound rule's `sender_groups`) treats it as any
group; nobody puts a contact in it or takes one out by hand."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable, TypeVar

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from gateway.errors import ContactExists, ContactNotFound, GroupExists, GroupNotFound, ValidationError, said
from gateway.store.database import Database, new_uid
from gateway.store.models import Contact, ContactGroup, GroupMember

_Row = TypeVar("_Row")


class Contacts:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- contacts ----------------------------------------------------------------------------------------------------

    def list_contacts(self, group_uid: str | None = None) -> list[tuple[Contact, list[str]]]:
        """Every contact (of the group `group_uid`, when given) with the names of its groups, oldest first."""
        with self._db.read() as s:
            contacts = list(s.scalars(_in_group(s, select(Contact).order_by(Contact.id), group_uid)))
            return [(c, names) for c, names in zip(contacts, _group_names(s, [c.id for c in contacts]))]

    def find_contacts(self, group_uid: str | None, needle: str | None, offset: int, limit: int
                      ) -> tuple[list[tuple[Contact, list[str]]], int]:
        """One page of the contacts (of a group), oldest first, and how many there are in all. With `needle`,
        only those whose name or number holds it, case ignored: names are sealed, so this reads every name and
        number (not the fields) and only the page's rows whole."""
        with self._db.read() as s:
            ids = _in_group(s, select(Contact.id).order_by(Contact.id), group_uid)
            if needle:
                folded = needle.casefold()
                named = s.execute(select(Contact.id, Contact.name, Contact.number).where(
                    Contact.id.in_(ids.scalar_subquery())).order_by(Contact.id))
                matching = [i for i, name, number in named if folded in name.casefold() or folded in number]
                total, page_ids = len(matching), matching[offset:offset + limit]
            else:
                total = s.scalar(select(func.count()).select_from(ids.subquery())) or 0
                page_ids = list(s.scalars(ids.offset(offset).limit(limit)))
            contacts = list(s.scalars(select(Contact).where(Contact.id.in_(page_ids)).order_by(Contact.id)))
            return [(c, names) for c, names in zip(contacts, _group_names(s, [c.id for c in contacts]))], total

    def by_numbers(self, numbers: list[str]) -> list[Contact]:
        with self._db.read() as s:
            return list(s.scalars(select(Contact).where(Contact.number.in_(numbers))))

    def names_of(self, numbers: list[str]) -> dict[str, str]:
        return {c.number: c.name for c in self.by_numbers(numbers) if c.name}

    def count_contacts(self) -> int:
        with self._db.read() as s:
            return s.scalar(select(func.count()).select_from(Contact)) or 0

    def get_contact(self, uid: str) -> tuple[Contact, list[str]]:
        with self._db.read() as s:
            contact = _contact(s, uid)
            return contact, _group_names(s, [contact.id])[0]

    def find_by_number(self, number: str) -> Contact | None:
        with self._db.read() as s:
            return s.scalars(select(Contact).where(Contact.number == number)).one_or_none()

    def add_contact(self, number: str, name: str, fields: str, groups: list[str], now: datetime) -> Contact:
        """A new contact in `groups` (names of existing groups); ContactExists when the number has one."""
        with self._db.write() as s:
            if s.scalar(select(Contact.id).where(Contact.number == number)) is not None:
                raise ContactExists(said("%(number)s is already a contact", number=number), field="number")
            contact = Contact(uid=new_uid("ct"), number=number, name=name, fields=fields, created_at=now,
                              updated_at=now)
            s.add(contact)
            s.flush()
            _set_groups(s, contact, groups, now)
            _follow_rules(s, [contact], now)
        return contact

    def update_contact(self, uid: str, values: dict[str, Any], groups: list[str] | None, now: datetime) -> Contact:
        """`values` (number, name, fields) over the contact's; its groups replaced by `groups` unless None."""
        with self._db.write() as s:
            contact = _contact(s, uid)
            number = values.get("number", contact.number)
            if number != contact.number and s.scalar(select(Contact.id).where(Contact.number == number)) is not None:
                raise ContactExists(said("%(number)s is already a contact", number=number), field="number")
            for name, value in values.items():
                setattr(contact, name, value)
            contact.updated_at = now
            if groups is not None:
                _set_groups(s, contact, groups, now)
            _follow_rules(s, [contact], now)
        return contact

    def import_contacts(self, entries: list[tuple[str, str, str]], groups: list[str], now: datetime
                        ) -> tuple[int, int]:
        """Contacts from an import (number, name, fields as JSON), in one transaction: a number that is a contact
        already gets the name and fields given (when not empty); every one joins `groups`. (added, updated)."""
        with self._db.write() as s:
            found = _static_groups(s, groups)
            existing = {c.number: c for c in s.scalars(select(Contact))}
            members = {(m.group_id, m.contact_id) for m in s.scalars(select(GroupMember).where(
                GroupMember.group_id.in_([g.id for g in found.values()])))}
            added = updated = 0
            for number, name, fields in entries:
                contact = existing.get(number)
                if contact is None:
                    contact = Contact(uid=new_uid("ct"), number=number, name=name, fields=fields, created_at=now,
                                      updated_at=now)
                    s.add(contact)
                    existing[number] = contact
                    added += 1
                else:
                    contact.name = name or contact.name
                    contact.fields = fields if fields != "{}" else contact.fields
                    contact.updated_at = now
                    updated += 1
            s.flush()
            touched = list({existing[number].id: existing[number] for number, _, _ in entries}.values())
            s.add_all(GroupMember(group_id=group.id, contact_id=contact.id, added_at=now)
                      for contact in touched for group in found.values() if (group.id, contact.id) not in members)
            _follow_rules(s, touched, now)
        return added, updated

    def delete_contact(self, uid: str) -> None:
        with self._db.write() as s:
            contact = _contact(s, uid)
            s.execute(delete(GroupMember).where(GroupMember.contact_id == contact.id))
            s.delete(contact)

    # --- groups ------------------------------------------------------------------------------------------------------

    def list_groups(self) -> list[tuple[ContactGroup, int]]:
        """Every group with its number of members, by name."""
        with self._db.read() as s:
            counts: dict[int, int] = {group_id: count for group_id, count in s.execute(
                select(GroupMember.group_id, func.count()).group_by(GroupMember.group_id))}
            return [(g, counts.get(g.id, 0)) for g in s.scalars(select(ContactGroup).order_by(ContactGroup.name))]

    def get_group(self, uid: str) -> tuple[ContactGroup, int]:
        with self._db.read() as s:
            group = _group(s, uid)
            members = s.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group.id))
            return group, members or 0

    def group_names(self) -> set[str]:
        with self._db.read() as s:
            return set(s.scalars(select(ContactGroup.name)))

    def add_group(self, name: str, now: datetime, match: tuple[str, str] | None = None) -> ContactGroup:
        """A new group; with `match` (field, value) a dynamic one, holding every contact whose field has that
        value from now on."""
        with self._db.write() as s:
            if s.scalar(select(ContactGroup.id).where(ContactGroup.name == name)) is not None:
                raise GroupExists(said("there is already a group %(name)r", name=name), field="name")
            field, value = match or (None, None)
            group = ContactGroup(uid=new_uid("grp"), name=name, created_at=now, match_field=field, match_value=value)
            s.add(group)
            if match is not None:
                s.flush()
                _follow_rules(s, list(s.scalars(select(Contact))), now)
        return group

    def delete_group(self, uid: str) -> None:
        """The group goes; its contacts stay."""
        with self._db.write() as s:
            group = _group(s, uid)
            s.execute(delete(GroupMember).where(GroupMember.group_id == group.id))
            s.delete(group)

    def add_members(self, group_uid: str, contact_uids: Iterable[str], now: datetime) -> int:
        """Put the contacts `contact_uids` in the group; how many were not in it already."""
        with self._db.write() as s:
            group = _by_hand(_group(s, group_uid))
            contacts = [_contact(s, uid) for uid in dict.fromkeys(contact_uids)]
            present = set(s.scalars(select(GroupMember.contact_id).where(GroupMember.group_id == group.id)))
            added = [c for c in contacts if c.id not in present]
            s.add_all(GroupMember(group_id=group.id, contact_id=c.id, added_at=now) for c in added)
        return len(added)

    def remove_member(self, group_uid: str, contact_uid: str) -> None:
        with self._db.write() as s:
            group, contact = _by_hand(_group(s, group_uid)), _contact(s, contact_uid)
            s.execute(delete(GroupMember).where(GroupMember.group_id == group.id,
                                                GroupMember.contact_id == contact.id))

    def groups_of(self, number: str) -> set[str]:
        """The names of the groups the contact with `number` is in (none when it is no contact)."""
        with self._db.read() as s:
            return set(s.scalars(select(ContactGroup.name).join(GroupMember).join(Contact).where(
                Contact.number == number)))


def join_group(s: Session, group_name: str, number: str, now: datetime) -> bool:
    """In an open write: the contact with `number` (made, unnamed, when there is none) joins the group; False
    when the group no longer exists or it was in it already."""
    group = s.scalars(select(ContactGroup).where(ContactGroup.name == group_name)).one_or_none()
    if group is None or group.match_field is not None:  # gone, or its rule decides who is in it
        return False
    contact = s.scalars(select(Contact).where(Contact.number == number)).one_or_none()
    if contact is None:
        contact = Contact(uid=new_uid("ct"), number=number, name="", fields="{}", created_at=now, updated_at=now)
        s.add(contact)
        s.flush()
    elif s.get(GroupMember, (group.id, contact.id)) is not None:
        return False
    s.add(GroupMember(group_id=group.id, contact_id=contact.id, added_at=now))
    return True


def leave_group(s: Session, group_name: str, number: str) -> bool:
    """In an open write: the contact with `number` leaves the group; False when it was not in it."""
    membership = s.scalars(select(GroupMember).join(ContactGroup).join(Contact).where(
        ContactGroup.name == group_name, ContactGroup.match_field.is_(None), Contact.number == number)).one_or_none()
    if membership is None:
        return False
    s.delete(membership)
    return True


def _contact(s: Session, uid: str) -> Contact:
    contact = s.scalars(select(Contact).where(Contact.uid == uid)).one_or_none()
    if contact is None:
        raise ContactNotFound(f"no contact {uid}", field="id")
    return contact


def _group(s: Session, uid: str) -> ContactGroup:
    group = s.scalars(select(ContactGroup).where(ContactGroup.uid == uid)).one_or_none()
    if group is None:
        raise GroupNotFound(f"no group {uid}", field="id")
    return group


def _in_group(s: Session, query: Select[_Row], group_uid: str | None) -> Select[_Row]:
    """`query` (over contacts) narrowed to the members of the group `group_uid`, when given."""
    if group_uid is None:
        return query
    return query.join(GroupMember, GroupMember.contact_id == Contact.id).where(
        GroupMember.group_id == _group(s, group_uid).id)


def _group_names(s: Session, contact_ids: list[int]) -> list[list[str]]:
    """The group names of each of `contact_ids`, in that order."""
    names: dict[int, list[str]] = defaultdict(list)
    if contact_ids:
        query = select(GroupMember.contact_id, ContactGroup.name).join(ContactGroup).order_by(ContactGroup.name)
        if len(contact_ids) <= 500:  # a page, or one contact; a whole book reads every membership at once
            query = query.where(GroupMember.contact_id.in_(contact_ids))
        for contact_id, name in s.execute(query):
            names[contact_id].append(name)
    return [names[i] for i in contact_ids]


def _set_groups(s: Session, contact: Contact, groups: list[str], now: datetime) -> None:
    """The contact's groups chosen by hand become `groups` (its dynamic groups are their rules' business)."""
    found = _static_groups(s, groups)
    static_ids = select(ContactGroup.id).where(ContactGroup.match_field.is_(None)).scalar_subquery()
    s.execute(delete(GroupMember).where(GroupMember.contact_id == contact.id, GroupMember.group_id.in_(static_ids)))
    s.add_all(GroupMember(group_id=found[name].id, contact_id=contact.id, added_at=now)
              for name in dict.fromkeys(groups))


def _static_groups(s: Session, names: list[str]) -> dict[str, ContactGroup]:
    """The groups named `names`, by name: GroupNotFound for a name no group has, ValidationError for a dynamic
    group (nobody chooses its members)."""
    found = {g.name: g for g in s.scalars(select(ContactGroup).where(ContactGroup.name.in_(names)))}
    missing = [name for name in names if name not in found]
    if missing:
        raise GroupNotFound(f"no group {missing[0]!r}", field="groups")
    return {name: _by_hand(g) for name, g in found.items()}


def _by_hand(group: ContactGroup) -> ContactGroup:
    """`group`, when its members are chosen by hand; ValidationError for a dynamic group."""
    if group.match_field is not None:
        raise ValidationError(f"group {group.name!r} holds the contacts whose {group.match_field} is "
                              f"{group.match_value!r}: change their fields to change who is in it", field="groups")
    return group


def _follow_rules(s: Session, contacts: list[Contact], now: datetime) -> None:
    """Put `contacts` in the dynamic groups whose rule they meet and take them out of the others."""
    rules = list(s.scalars(select(ContactGroup).where(ContactGroup.match_field.is_not(None))))
    if not rules or not contacts:
        return
    ids = [c.id for c in contacts]
    present = {(m.group_id, m.contact_id) for m in s.scalars(select(GroupMember).where(
        GroupMember.group_id.in_([g.id for g in rules]),
        *([GroupMember.contact_id.in_(ids)] if len(ids) <= 500 else [])))}
    for contact in contacts:
        fields = _field_values(contact.fields)
        for group in rules:
            meets = fields.get(group.match_field or "", "").casefold() == (group.match_value or "").casefold()
            if meets and (group.id, contact.id) not in present:
                s.add(GroupMember(group_id=group.id, contact_id=contact.id, added_at=now))
            elif not meets and (group.id, contact.id) in present:
                s.execute(delete(GroupMember).where(GroupMember.group_id == group.id,
                                                    GroupMember.contact_id == contact.id))


def _field_values(fields: str) -> dict[str, str]:
    try:
        values = json.loads(fields or "{}")
    except ValueError:
        return {}
    return {str(k): str(v).strip() for k, v in values.items()} if isinstance(values, dict) else {}
