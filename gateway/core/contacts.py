"""Contacts and groups: who the box's people write to. Numbers are read as any recipient's are (E.164, the
region's national format); a contact's `fields` are short strings named like template placeholders, so a
template can say "Dear {name}, {child}'s class starts at {time}"."""

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
from gateway.store.models import Contact, ContactGroup

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

    def list_contacts(self, group_uid: str | None = None) -> list[tuple[Contact, list[str]]]:
        """Every contact (of a group) with its groups, oldest first."""
        return self._store.contacts.list_contacts(group_uid)

    def find_contacts(self, group_uid: str | None = None, search: str | None = None, offset: int = 0,
                      limit: int = 50) -> tuple[list[tuple[Contact, list[str]]], int]:
        """A page of the contacts (of a group; whose name or number holds `search`, case ignored), and how many
        there are in all."""
        return self._store.contacts.find_contacts(group_uid, search or None, offset, limit)

    def names_of(self, numbers: list[str]) -> dict[str, str]:
        """The contact names of those of `numbers` that are named contacts."""
        return self._store.contacts.names_of(numbers)

    def count_contacts(self) -> int:
        return self._store.contacts.count_contacts()

    def get_contact(self, uid: str) -> tuple[Contact, list[str]]:
        return self._store.contacts.get_contact(uid)

    def add_contact(self, number: str, name: str = "", fields: dict[str, Any] | None = None,
                    groups: list[str] | None = None) -> Contact:
        return self._store.contacts.add_contact(self._number(number), _name(name), _fields(fields or {}),
                                                groups or [], self._clock())

    def update_contact(self, uid: str, changes: dict[str, Any], groups: list[str] | None = None) -> Contact:
        values: dict[str, Any] = {}
        if "number" in changes:
            values["number"] = self._number(changes["number"])
        if "name" in changes:
            values["name"] = _name(changes["name"])
        if "fields" in changes:
            values["fields"] = _fields(changes["fields"])
        return self._store.contacts.update_contact(uid, values, groups, self._clock())

    def import_contacts(self, rows: list[dict[str, str]], groups: list[str]) -> ImportResult:
        """Contacts from rows of an upload (`number`, and `name` and other fields when given; row 1 is the first),
        all joining `groups`: rows with a bad number or a number met before are reported and the others kept."""
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
        added, updated = self._store.contacts.import_contacts(entries, groups, self._clock()) if entries else (0, 0)
        return ImportResult(added, updated, rejected)

    def delete_contact(self, uid: str) -> None:
        self._store.contacts.delete_contact(uid)

    def list_groups(self) -> list[tuple[ContactGroup, int]]:
        return self._store.contacts.list_groups()

    def get_group(self, uid: str) -> tuple[ContactGroup, int]:
        return self._store.contacts.get_group(uid)

    def add_group(self, name: str, match_field: Any = None, match_value: Any = None) -> ContactGroup:
        """A group; with `match_field` a dynamic one: the contacts whose field `match_field` is `match_value` (as
        written, whatever the case), now and as their fields change."""
        if match_field is None:
            return self._store.contacts.add_group(group_name(name), self._clock())
        if not isinstance(match_field, str) or not FIELD_NAME.fullmatch(match_field) or match_field in RESERVED_FIELDS:
            raise ValidationError("a dynamic group's field must be a contact field's name (letters, digits, _)",
                                  field="match.field")
        if not isinstance(match_value, str) or not 0 < len(match_value.strip()) <= MAX_FIELD_VALUE:
            raise ValidationError(f"a dynamic group's value must be 1 to {MAX_FIELD_VALUE} characters",
                                  field="match.value")
        return self._store.contacts.add_group(group_name(name), self._clock(), (match_field, match_value.strip()))

    def delete_group(self, uid: str) -> None:
        self._store.contacts.delete_group(uid)

    def recipients(self, group_uid: str) -> list[tuple[str, str, dict[str, str]]]:
        """The members of a group as a message's recipients: number, name and fields, oldest contact first."""
        return [(c.number, c.name, fields_of(c)) for c, _ in self._store.contacts.list_contacts(group_uid)]

    def audience(self, numbers: list[str], group_uids: list[str]) -> tuple[list[tuple[str, str, dict[str, str]]],
                                                                          list[str]]:
        """The recipients of a message to `numbers` and the members of the groups `group_uids`, each once (a number
        that is a contact takes its name and fields), and the numbers that could not be read."""
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
            for contact in self._store.contacts.by_numbers(list(chosen)):
                chosen[contact.number] = (contact.number, contact.name, fields_of(contact))
        for uid in group_uids:
            for recipient in self.recipients(uid):
                chosen.setdefault(recipient[0], recipient)
        return list(chosen.values()), unreadable

    def add_members(self, group_uid: str, contact_uids: list[str]) -> int:
        return self._store.contacts.add_members(group_uid, contact_uids, self._clock())

    def remove_member(self, group_uid: str, contact_uid: str) -> None:
        self._store.contacts.remove_member(group_uid, contact_uid)

    def _number(self, number: Any) -> str:
        if not isinstance(number, str):
            raise ValidationError(said("number must be a phone number"), field="number")
        return to_e164(number, self._settings, field="number")


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
