"""Two writers adding the same name at once: the one that looked before the other committed, and inserts after,
is refused as any duplicate is (409 over the API), never a 500. On PostgreSQL its insert waits on the unique index
until the other commits, then breaks it, and the verb runs again (`once_more_after_a_race`); SQLite's writers take
turns, so there the check finds the row."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from gateway.errors import UserExists
from gateway.store.database import new_uid
from gateway.store.models import Account, Contact, ContactGroup, MessageTemplate, User
from tests.writers import until_someone_waits_on_a_lock

pytestmark = pytest.mark.both_databases

NOW = datetime.now(timezone.utc)


@contextmanager
def another_writer_adding(store, row):
    """Another writer adds `row` in a transaction that is open (the row not visible) from the start of the block
    and commits once this one's insert waits for it (PostgreSQL: a backend waits on a lock) or, on SQLite, after a
    moment."""
    added, failures = threading.Event(), []

    def write():
        try:
            with store.db.write() as s:
                s.add(row)
                s.flush()
                added.set()
                until_someone_waits_on_a_lock(store)
        except Exception as exc:  # noqa: BLE001 - the test asserts there was none
            failures.append(exc)
            added.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert added.wait(10)
    yield
    writer.join(15)
    assert not failures


@pytest.mark.parametrize("path, body, row", [
    ("/api/v1/contacts", {"number": "07911 123456"},
     lambda: Contact(uid=new_uid("ct"), number="+447911123456", name="", fields="{}", created_at=NOW, updated_at=NOW)),
    ("/api/v1/groups", {"name": "Staff"}, lambda: ContactGroup(uid=new_uid("grp"), name="Staff", created_at=NOW)),
    ("/api/v1/accounts", {"name": "clinic"}, lambda: Account(name="clinic", routes="", created_at=NOW)),
    ("/api/v1/templates", {"name": "closed", "body": "We are closed today."},
     lambda: MessageTemplate(name="closed", body="Closed.", is_approved=True, created_at=NOW, updated_at=NOW)),
], ids=["contact", "group", "account", "template"])
def test_a_name_added_meanwhile_by_another_writer_is_refused_as_taken(client, auth, store, path, body, row):
    with another_writer_adding(store, row()):
        response = client.post(path, json=body, headers=auth)
    assert response.status_code == 409, response.get_json()
    assert len(client.get(path, headers=auth).get_json()[path.rsplit("/", 1)[1]]) == 1  # the other writer's


def test_a_user_added_meanwhile_by_another_writer_is_refused_as_taken(store):
    with another_writer_adding(store, User(username="reception", password_hash="x", role="viewer", created_at=NOW)):
        with pytest.raises(UserExists):
            store.users.add_user("reception", "y", "viewer", NOW)
