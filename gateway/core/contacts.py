"""Contacts and groups: who the box's people write to. Numbers are read as any recipient's are (E.164, the
region's national format); a contact's `fields` are short strings named like template placeholders, so a
template can say "Dear {name}, {child}'s class starts at {time}".

Each account has its own book of contacts and groups, and the box has one more: what a person or key of an
account (`seen_by`, `account`) makes goes in its account's book, and they find and change that book's only (the
others' contacts and groups are not found); one of no account (None) finds and changes every book's, and what
they make goes in the box's own."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from gateway.config import MessagingSettings
from gateway.errors import ValidationError, said
from gateway.rules.numbers import to_e164
from gateway.store import Store
from gateway.store.models import Account, Contact, ContactGroup

FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
MAX_FIELDS, MAX_FIELD_VALUE, MAX_NAME = 30, 500, 100
RESERVED_FIELDS = ("name", "number")  # a contact's own columns, filled in templates from it


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int  # numbers that were contacts already: their name and fields were taken from the file
    rejected: list[tuple[int, str]]  # (row, why)


class ContactBook:
    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime]) -> None:
        self._store, self._settings, self._clock = store, settings, clock

    def list_contacts(self, group_uid: str | None = None, seen_by: Account | None = None
                      ) -> list[tuple[Contact, list[str]]]:
        """Every contact (of a group) `seen_by` sees with its groups, oldest first."""
        return self._store.contacts.list_contacts(group_uid, _id(seen_by))

    def find_contacts(self, group_uid: str | None = None, search: str | None = None, offset: int = 0,
                      limit: int = 50, seen_by: Account | None = None) -> tuple[list[tuple[Contact, list[str]]], int]:
        """A page of the contacts `seen_by` sees (of a group; whose name or number holds `search`, case ignored),
        and how many there are in all."""
        return self._store.contacts.find_contacts(group_uid, search or None, offset, limit, _id(seen_by))

    def names_of(self, numbers: list[str], seen_by: Account | None = None) -> dict[str, str]:
        """The names of those of `numbers` that are named contacts `seen_by` sees (of no account: any book's, the
        box's own first)."""
        return self._store.contacts.names_of(numbers, _id(seen_by))

    def count_contacts(self, seen_by: Account | None = None) -> int:
        return self._store.contacts.count_contacts(_id(seen_by))

    def get_contact(self, uid: str, seen_by: Account | None = None) -> tuple[Contact, list[str]]:
        """Contact `uid` and its groups; ContactNotFound when `seen_by` does not see it."""
        return self._store.contacts.get_contact(uid, _id(seen_by))

    def add_contact(self, number: str, name: str = "", fields: dict[str, Any] | None = None,
                    groups: list[str] | None = None, account: Account | None = None) -> Contact:
        """A new contact of `account`'s book, in its groups `groups` (names)."""
        return self._store.contacts.add_contact(self._number(number), _name(name), _fields(fields or {}),
                                                groups or [], self._clock(), _id(account))

    def update_contact(self, uid: str, changes: dict[str, Any], groups: list[str] | None = None,
                       seen_by: Account | None = None) -> Contact:
        values: dict[str, Any] = {}
        if "number" in changes:
            values["number"] = self._number(changes["number"])
        if "name" in changes:
            values["name"] = _name(changes["name"])
        if "fields" in changes:
            values["fields"] = _fields(changes["fields"])
        return self._store.contacts.update_contact(uid, values, groups, self._clock(), _id(seen_by))

    def import_contacts(self, rows: list[dict[str, str]], groups: list[str],
                        account: Account | None = None) -> ImportResult:
        """Contacts from rows of an upload (`number`, and `name` and other fields when given; row 1 is the first)
        into `account`'s book, all joining its groups `groups`: rows with a bad number or a number met before are
        reported and the others kept. A number that is a contact of that book already is updated."""
        entries: list[tuple[str, str, str]] = []
        rejected: list[tuple[int, str]] = []
        first_row: dict[str, int] = {}
        for row_number, row in enumerate(rows, start=1):
            try:
                number = self._number(row.get("number", ""))
                fields = {k: v.strip() for k, v in row.items() if k not in RESERVED_FIELDS and v and v.strip()}
                entry = (number, _name(row.get("name", "")), _fields(fields))
            except ValidationError as exc:
                rejected.append((row_number, exc.message))
                continue
            if number in first_row:
                rejected.append((row_number, f"{number} is on row {first_row[number]} already"))
                continue
            first_row[number] = row_number
            entries.append(entry)
        if not entries:
            return ImportResult(0, 0, rejected)
        added, updated = self._store.contacts.import_contacts(entries, groups, self._clock(), _id(account))
        return ImportResult(added, updated, rejected)

    def delete_contact(self, uid: str, seen_by: Account | None = None) -> None:
        self._store.contacts.delete_contact(uid, _id(seen_by))

    def list_groups(self, seen_by: Account | None = None) -> list[tuple[ContactGroup, int]]:
        """The groups `seen_by` sees with their number of members, by name."""
        return self._store.contacts.list_groups(_id(seen_by))

    def group_names(self) -> list[str]:
        """The names of every book's groups, sorted: those an inbound rule may name."""
        return sorted(self._store.contacts.group_names())

    def get_group(self, uid: str, seen_by: Account | None = None) -> tuple[ContactGroup, int]:
        """Group `uid` and its number of members; GroupNotFound when `seen_by` does not see it."""
        return self._store.contacts.get_group(uid, _id(seen_by))

    def add_group(self, name: str, match_field: Any = None, match_value: Any = None,
                  account: Account | None = None) -> ContactGroup:
        """A group of `account`'s book; with `match_field` a dynamic one: the contacts of that book whose field
        `match_field` is `match_value` (as written, whatever the case), now and as their fields change."""
        if match_field is None:
            return self._store.contacts.add_group(group_name(name), self._clock(), account_id=_id(account))
        if not isinstance(match_field, str) or not FIELD_NAME.fullmatch(match_field) or match_field in RESERVED_FIELDS:
            raise ValidationError("a dynamic group's field must be a contact field's name (letters, digits, _)",
                                  field="match.field")
        if not isinstance(match_value, str) or not 0 < len(match_value.strip()) <= MAX_FIELD_VALUE:
            raise ValidationError(f"a dynamic group's value must be 1 to {MAX_FIELD_VALUE} characters",
                                  field="match.value")
        return self._store.contacts.add_group(group_name(name), self._clock(), (match_field, match_value.strip()),
                                              _id(account))

    def delete_group(self, uid: str, seen_by: Account | None = None) -> None:
        self._store.contacts.delete_group(uid, _id(seen_by))

    def recipients(self, group_uid: str, seen_by: Account | None = None) -> list[tuple[str, str, dict[str, str]]]:
        """The members of a group `seen_by` sees as a message's recipients: number, name and fields, oldest contact
        first."""
        return [(c.number, c.name, fields_of(c)) for c, _ in self._store.contacts.list_contacts(group_uid,
                                                                                                _id(seen_by))]

    def audience(self, numbers: list[str], group_uids: list[str], account: Account | None = None
                 ) -> tuple[list[tuple[str, str, dict[str, str]]], list[str]]:
        """The recipients of a message `account`'s person sends to `numbers` and the members of the groups
        `group_uids` (that they see), each once (a number that is a contact of `account`'s book takes its name and
        fields), and the numbers that could not be read."""
        chosen: dict[str, tuple[str, str, dict[str, str]]] = {}
        unreadable = []
        for raw in numbers:
            try:
                number = self._number(raw)
            except ValidationError:
                unreadable.append(raw)
                continue
            chosen.setdefault(number, (number, "", {}))
        if chosen:
            for contact in self._store.contacts.by_numbers(list(chosen), _id(account)):
                chosen[contact.number] = (contact.number, contact.name, fields_of(contact))
        for uid in group_uids:
            for recipient in self.recipients(uid, account):
                chosen.setdefault(recipient[0], recipient)
        return list(chosen.values()), unreadable

    def add_members(self, group_uid: str, contact_uids: list[str], seen_by: Account | None = None) -> int:
        """Put contacts of the group's book in it (ValidationError for another book's); how many were not in it."""
        return self._store.contacts.add_members(group_uid, contact_uids, self._clock(), _id(seen_by))

    def remove_member(self, group_uid: str, contact_uid: str, seen_by: Account | None = None) -> None:
        self._store.contacts.remove_member(group_uid, contact_uid, _id(seen_by))

    def _number(self, number: Any) -> str:
        if not isinstance(number, str):
            raise ValidationError(said("number must be a phone number"), field="number")
        return to_e164(number, self._settings, field="number")


def _id(account: Account | None) -> int | None:
    return account.id if account is not None else None


def group_name(name: Any) -> str:
    if not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME or "," in name:
        raise ValidationError(said("a group's name must be 1 to %(n)d characters, without commas", n=MAX_NAME),
                              field="name")
    return name.strip()


def fields_of(contact: Contact) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(contact.fields or "{}")
    return loaded


def _name(name: Any) -> str:
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise ValidationError(said("name must be text of at most %(n)d characters", n=MAX_NAME), field="name")
    return name.strip()


def _fields(fields: Any) -> str:
    if not isinstance(fields, dict) or len(fields) > MAX_FIELDS:
        raise ValidationError(f"fields must be an object of at most {MAX_FIELDS} names and texts", field="fields")
    for key, value in fields.items():
        if not FIELD_NAME.fullmatch(key) or key in RESERVED_FIELDS:
            raise ValidationError(f"fields: {key!r} is not a usable name (letters, digits and _, not "
                                  f"{' or '.join(RESERVED_FIELDS)})", field="fields")
        if not isinstance(value, str) or len(value) > MAX_FIELD_VALUE:
            raise ValidationError(f"fields: {key} must be text of at most {MAX_FIELD_VALUE} characters",
                                  field="fields")
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)
