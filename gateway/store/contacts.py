"""Contacts and contact groups (gateway/core/contacts.py checks what comes in), and the group changes an inbound
rule makes inside its run's transaction (`join_group`, `leave_group`).

Each contact and group is in a book: an account's (`account_id`) or the box's own (None). A number is a contact,
and a name a group, once in each book; a group's members are contacts of its book. The verbs that find rows take
`seen_by`, an account's id whose book alone they search (another book's rows are not found), or None: every
book. Those that make rows, or find them by number or name, take `account_id`: the book itself.

A dynamic group's member rows are kept in step with its rule by every write that sets a contact's fields
(`_follow_rules`), so every read (lists, counts, searches, an inbound rule's `sender_groups`) treats it as any
group; nobody puts a contact in it or takes one out by hand."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable, TypeVar

from sqlalchemy import ColumnElement, Select, delete, func, select
from sqlalchemy.orm import Session

from gateway.errors import ContactExists, ContactNotFound, GroupExists, GroupNotFound, ValidationError, said
from gateway.store.database import Database, new_uid, once_more_after_a_race
from gateway.store.models import Contact, ContactGroup, GroupMember

_Row = TypeVar("_Row")


class Contacts:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- contacts ----------------------------------------------------------------------------------------------------

    def list_contacts(self, group_uid: str | None = None, seen_by: int | None = None
                      ) -> list[tuple[Contact, list[str]]]:
        """Every contact (of the group `group_uid`, when given) with the names of its groups, oldest first."""
        with self._db.read() as s:
            contacts = list(s.scalars(_in_group(s, select(Contact).order_by(Contact.id), group_uid, seen_by)))
            return [(c, names) for c, names in zip(contacts, _group_names(s, [c.id for c in contacts]))]

    def find_contacts(self, group_uid: str | None, needle: str | None, offset: int, limit: int,
                      seen_by: int | None = None) -> tuple[list[tuple[Contact, list[str]]], int]:
        """One page of the contacts (of a group), oldest first, and how many there are in all. With `needle`,
        only those whose name or number holds it, case ignored: names are sealed, so this reads every name and
        number (not the fields) and only the page's rows whole."""
        with self._db.read() as s:
            ids = _in_group(s, select(Contact.id).order_by(Contact.id), group_uid, seen_by)
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

    def by_numbers(self, numbers: list[str], account_id: int | None) -> list[Contact]:
        """The contacts of the book `account_id` among `numbers`."""
        with self._db.read() as s:
            return list(s.scalars(select(Contact).where(Contact.number.in_(numbers), _in_book(Contact, account_id))))

    def names_of(self, numbers: list[str], seen_by: int | None = None) -> dict[str, str]:
        """The names of the named contacts among `numbers`; a number named in several books (`seen_by` None) takes
        the box's own book's name, else the oldest contact's."""
        with self._db.read() as s:
            contacts = s.scalars(_seen(select(Contact).where(Contact.number.in_(numbers)), Contact, seen_by)
                                 .order_by(Contact.account_id.is_not(None), Contact.id))
            names: dict[str, str] = {}
            for contact in contacts:
                if contact.name:  # sealed in the table: an empty name shows only once read
                    names.setdefault(contact.number, contact.name)
            return names

    def count_contacts(self, seen_by: int | None = None) -> int:
        with self._db.read() as s:
            return s.scalar(_seen(select(func.count()).select_from(Contact), Contact, seen_by)) or 0

    def get_contact(self, uid: str, seen_by: int | None = None) -> tuple[Contact, list[str]]:
        with self._db.read() as s:
            contact = _contact(s, uid, seen_by)
            return contact, _group_names(s, [contact.id])[0]

    @once_more_after_a_race
    def add_contact(self, number: str, name: str, fields: str, groups: list[str], now: datetime,
                    account_id: int | None = None) -> Contact:
        """A new contact of the book `account_id` in `groups` (names of that book's groups); ContactExists when
        the number is one of its contacts already."""
        with self._db.write() as s:
            if s.scalar(select(Contact.id).where(Contact.number == number, _in_book(Contact, account_id))) is not None:
                raise ContactExists(said("%(number)s is already a contact", number=number), field="number")
            contact = Contact(uid=new_uid("ct"), number=number, name=name, fields=fields, created_at=now,
                              updated_at=now, account_id=account_id)
            s.add(contact)
            s.flush()
            _set_groups(s, contact, groups, now)
            _follow_rules(s, [contact], now)
        return contact

    @once_more_after_a_race
    def update_contact(self, uid: str, values: dict[str, Any], groups: list[str] | None, now: datetime,
                       seen_by: int | None = None) -> Contact:
        """`values` (number, name, fields) over the contact's; its groups replaced by `groups` (names of its
        book's groups) unless None."""
        with self._db.write() as s:
            contact = _contact(s, uid, seen_by)
            number = values.get("number", contact.number)
            if number != contact.number and s.scalar(select(Contact.id).where(
                    Contact.number == number, _in_book(Contact, contact.account_id))) is not None:
                raise ContactExists(said("%(number)s is already a contact", number=number), field="number")
            for name, value in values.items():
                setattr(contact, name, value)
            contact.updated_at = now
            if groups is not None:
                _set_groups(s, contact, groups, now)
            _follow_rules(s, [contact], now)
        return contact

    @once_more_after_a_race
    def import_contacts(self, entries: list[tuple[str, str, str]], groups: list[str], now: datetime,
                        account_id: int | None = None) -> tuple[int, int]:
        """Contacts from an import (number, name, fields as JSON) into the book `account_id`, in one transaction:
        a number that is a contact of that book already gets the name and fields given (when not empty); every
        one joins `groups` (that book's). (added, updated)."""
        with self._db.write() as s:
            found = _static_groups(s, groups, account_id)
            existing = {c.number: c for c in s.scalars(select(Contact).where(_in_book(Contact, account_id)))}
            members = {(m.group_id, m.contact_id) for m in s.scalars(select(GroupMember).where(
                GroupMember.group_id.in_([g.id for g in found.values()])))}
            added = updated = 0
            for number, name, fields in entries:
                contact = existing.get(number)
                if contact is None:
                    contact = Contact(uid=new_uid("ct"), number=number, name=name, fields=fields, created_at=now,
                                      updated_at=now, account_id=account_id)
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

    def delete_contact(self, uid: str, seen_by: int | None = None) -> None:
        with self._db.write() as s:
            contact = _contact(s, uid, seen_by)
            s.execute(delete(GroupMember).where(GroupMember.contact_id == contact.id))
            s.delete(contact)

    # --- groups ------------------------------------------------------------------------------------------------------

    def list_groups(self, seen_by: int | None = None) -> list[tuple[ContactGroup, int]]:
        """Every group with its number of members, by name (the box's own book's first of a name)."""
        with self._db.read() as s:
            counts: dict[int, int] = {group_id: count for group_id, count in s.execute(
                select(GroupMember.group_id, func.count()).group_by(GroupMember.group_id))}
            groups = s.scalars(_seen(select(ContactGroup), ContactGroup, seen_by).order_by(
                ContactGroup.name, ContactGroup.account_id.is_not(None), ContactGroup.id))
            return [(g, counts.get(g.id, 0)) for g in groups]

    def get_group(self, uid: str, seen_by: int | None = None) -> tuple[ContactGroup, int]:
        with self._db.read() as s:
            group = _group(s, uid, seen_by)
            members = s.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group.id))
            return group, members or 0

    def group_names(self) -> set[str]:
        """The names of the groups of every book."""
        with self._db.read() as s:
            return set(s.scalars(select(ContactGroup.name)))

    @once_more_after_a_race
    def add_group(self, name: str, now: datetime, match: tuple[str, str] | None = None,
                  account_id: int | None = None) -> ContactGroup:
        """A new group of the book `account_id`; with `match` (field, value) a dynamic one, holding every contact
        of that book whose field has that value from now on."""
        with self._db.write() as s:
            if s.scalar(select(ContactGroup.id).where(ContactGroup.name == name,
                                                      _in_book(ContactGroup, account_id))) is not None:
                raise GroupExists(said("there is already a group %(name)r", name=name), field="name")
            field, value = match or (None, None)
            group = ContactGroup(uid=new_uid("grp"), name=name, created_at=now, match_field=field, match_value=value,
                                 account_id=account_id)
            s.add(group)
            if match is not None:
                s.flush()
                _follow_rules(s, list(s.scalars(select(Contact).where(_in_book(Contact, account_id)))), now)
        return group

    def delete_group(self, uid: str, seen_by: int | None = None) -> None:
        """The group goes; its contacts stay."""
        with self._db.write() as s:
            group = _group(s, uid, seen_by)
            s.execute(delete(GroupMember).where(GroupMember.group_id == group.id))
            s.delete(group)

    @once_more_after_a_race
    def add_members(self, group_uid: str, contact_uids: Iterable[str], now: datetime,
                    seen_by: int | None = None) -> int:
        """Put the contacts `contact_uids` (of the group's book) in the group; how many were not in it already."""
        with self._db.write() as s:
            group = _by_hand(_group(s, group_uid, seen_by))
            contacts = [_contact(s, uid, seen_by) for uid in dict.fromkeys(contact_uids)]
            for contact in contacts:
                if contact.account_id != group.account_id:
                    raise ValidationError(said("the group %(name)r holds contacts of its own account only: "
                                               "%(number)s is not one", name=group.name, number=contact.number),
                                          field="contacts")
            present = set(s.scalars(select(GroupMember.contact_id).where(GroupMember.group_id == group.id)))
            added = [c for c in contacts if c.id not in present]
            s.add_all(GroupMember(group_id=group.id, contact_id=c.id, added_at=now) for c in added)
        return len(added)

    def remove_member(self, group_uid: str, contact_uid: str, seen_by: int | None = None) -> None:
        with self._db.write() as s:
            group, contact = _by_hand(_group(s, group_uid, seen_by)), _contact(s, contact_uid, seen_by)
            s.execute(delete(GroupMember).where(GroupMember.group_id == group.id,
                                                GroupMember.contact_id == contact.id))

    def groups_of(self, number: str) -> set[str]:
        """The names of the groups the contacts with `number`, of every book, are in (none when it is no
        contact)."""
        with self._db.read() as s:
            return set(s.scalars(select(ContactGroup.name).join(GroupMember).join(Contact).where(
                Contact.number == number)))


def join_group(s: Session, group_name: str, number: str, now: datetime) -> bool:
    """In an open write: in each book with a group `group_name` (chosen by hand), its contact with `number` (made,
    unnamed, when there is none) joins that group; False when no such group exists or it was in all of them."""
    joined = False
    for group in s.scalars(select(ContactGroup).where(ContactGroup.name == group_name,
                                                      ContactGroup.match_field.is_(None)).order_by(ContactGroup.id)):
        contact = s.scalars(select(Contact).where(Contact.number == number,
                                                  _in_book(Contact, group.account_id))).one_or_none()
        if contact is None:
            contact = Contact(uid=new_uid("ct"), number=number, name="", fields="{}", created_at=now, updated_at=now,
                              account_id=group.account_id)
            s.add(contact)
            s.flush()
        elif s.get(GroupMember, (group.id, contact.id)) is not None:
            continue
        s.add(GroupMember(group_id=group.id, contact_id=contact.id, added_at=now))
        joined = True
    return joined


def leave_group(s: Session, group_name: str, number: str) -> bool:
    """In an open write: the contacts with `number` leave the groups `group_name` (chosen by hand) of every book;
    False when none was in one."""
    memberships = list(s.scalars(select(GroupMember).join(ContactGroup).join(Contact).where(
        ContactGroup.name == group_name, ContactGroup.match_field.is_(None), Contact.number == number)))
    for membership in memberships:
        s.delete(membership)
    return bool(memberships)


def _in_book(row: type[Contact] | type[ContactGroup], account_id: int | None) -> ColumnElement[bool]:
    """The rows of the book `account_id` (None: the box's own)."""
    return row.account_id.is_(None) if account_id is None else row.account_id == account_id


def _seen(query: Select[_Row], row: type[Contact] | type[ContactGroup], seen_by: int | None) -> Select[_Row]:
    """`query` narrowed to the book of the account `seen_by`, when given."""
    return query if seen_by is None else query.where(row.account_id == seen_by)


def _contact(s: Session, uid: str, seen_by: int | None = None) -> Contact:
    contact = s.scalars(_seen(select(Contact).where(Contact.uid == uid), Contact, seen_by)).one_or_none()
    if contact is None:
        raise ContactNotFound(f"no contact {uid}", field="id")
    return contact


def _group(s: Session, uid: str, seen_by: int | None = None) -> ContactGroup:
    group = s.scalars(_seen(select(ContactGroup).where(ContactGroup.uid == uid), ContactGroup, seen_by)).one_or_none()
    if group is None:
        raise GroupNotFound(f"no group {uid}", field="id")
    return group


def _in_group(s: Session, query: Select[_Row], group_uid: str | None, seen_by: int | None) -> Select[_Row]:
    """`query` (over contacts) narrowed to those `seen_by` sees, and to the members of the group `group_uid`,
    when given."""
    query = _seen(query, Contact, seen_by)
    if group_uid is None:
        return query
    return query.join(GroupMember, GroupMember.contact_id == Contact.id).where(
        GroupMember.group_id == _group(s, group_uid, seen_by).id)


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
    """The contact's groups chosen by hand become `groups`, names of its book's groups (its dynamic groups are
    their rules' business)."""
    found = _static_groups(s, groups, contact.account_id)
    static_ids = select(ContactGroup.id).where(ContactGroup.match_field.is_(None)).scalar_subquery()
    s.execute(delete(GroupMember).where(GroupMember.contact_id == contact.id, GroupMember.group_id.in_(static_ids)))
    s.add_all(GroupMember(group_id=found[name].id, contact_id=contact.id, added_at=now)
              for name in dict.fromkeys(groups))


def _static_groups(s: Session, names: list[str], account_id: int | None) -> dict[str, ContactGroup]:
    """The groups of the book `account_id` named `names`, by name: GroupNotFound for a name none has,
    ValidationError for a dynamic group (nobody chooses its members)."""
    found = {g.name: g for g in s.scalars(select(ContactGroup).where(ContactGroup.name.in_(names),
                                                                     _in_book(ContactGroup, account_id)))}
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
    """Put `contacts` in the dynamic groups of their book whose rule they meet and take them out of the others."""
    rules = list(s.scalars(select(ContactGroup).where(ContactGroup.match_field.is_not(None))))
    if not rules or not contacts:
        return
    ids = [c.id for c in contacts]
    present = {(m.group_id, m.contact_id) for m in s.scalars(select(GroupMember).where(
        GroupMember.group_id.in_([g.id for g in rules]),
        *([GroupMember.contact_id.in_(ids)] if len(ids) <= 500 else [])))}
    for contact in contacts:
        fields = _field_values(contact.fields)
        for group in (g for g in rules if g.account_id == contact.account_id):
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
