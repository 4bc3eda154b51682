"""Data minimisation: bodies emptied after the retention period; erasing everything about one number."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from gateway.errors import MessageNotFound
from gateway.store.models import ConsentEvent, Event, InboxMessage, Message, Part, Suppression
from gateway.values import MessageDraft, MessageState, ReceivedSms
from tests.clock import at

pytestmark = pytest.mark.both_databases  # every test here runs on SQLite and on PostgreSQL

NOW = at(11, 26, 12, 0, 0)
ALICE, BOB = "+447911123456", "+447911654321"


def draft(number: str, body: str) -> MessageDraft:
    return MessageDraft(to_number=number, body=body, encoding="gsm7", parts=(body,), delivery_report=False)


def received(sender: str, text: str, index: int) -> ReceivedSms:
    return ReceivedSms("SM", index, sender, text, NOW, None, f"{index:02x}")


def sent(store, message, when):
    job = store.outbox.claim_next("m1", when, 60)
    assert job.message_id == message.id
    store.outbox.record_part_sent(job, 1, "m1", message.id % 256, when)


@pytest.fixture
def clocked(store, settings):
    class Clock:
        now = NOW

    clock = Clock()
    service = GatewayService(store, MessagingSettings(body_retention_days=30), clock=lambda: clock.now,
                             webhook_settings=settings.webhooks)
    return service, clock


def test_bodies_older_than_the_retention_are_purged_and_metadata_kept(store, clocked):
    service, clock = clocked
    old, queued_old = store.outbox.enqueue([draft(ALICE, "old secret"), draft(BOB, "still queued")], NOW)
    sent(store, old, NOW)
    store.inbox.record_received("m1", received(BOB, "old reply", 1), NOW)
    store.inbox.quarantine("m1", "SM", 2, "0004Z0B", "cannot be decoded", NOW)
    clock.now = NOW + timedelta(days=29)
    [recent] = store.outbox.enqueue([draft(ALICE, "recent")], clock.now)
    store.inbox.quarantine("m1", "SM", 3, "0004Z0C", "cannot be decoded", clock.now)
    assert service.privacy.purge_bodies() == {"messages": 0, "inbox": 0}
    clock.now = NOW + timedelta(days=31)
    assert service.privacy.purge_bodies() == {"messages": 1, "inbox": 1}
    purged = store.outbox.get_message(old.uid)
    assert (purged.body, purged.body_purged, purged.parts[0].text) == ("", True, "")
    assert (purged.to_number, purged.state, purged.sent_at) == (ALICE, MessageState.SENT, NOW)
    assert store.outbox.get_message(queued_old.uid).body == "still queued"  # not sent yet: kept to send
    assert store.outbox.get_message(recent.uid).body == "recent"
    assert [m.text for m in store.inbox.list_inbox()] == [""]
    assert [q.pdu for q in store.inbox.list_quarantine()] == ["0004Z0C"]  # the old raw PDU is gone whole
    assert service.privacy.purge_bodies() == {"messages": 0, "inbox": 0}  # idempotent


def event_data(store) -> dict[str, dict]:
    """The `data` of every stored event payload, by event type and subject, read from the rows."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(Event.type, Event.subject, Event.payload)).all()
    return {f"{row.type} {row.subject}": json.loads(row.payload)["data"] for row in rows}


def test_retention_also_empties_the_text_in_stored_event_payloads(store, clocked):
    from gateway.values import EVENT_TYPES

    service, clock = clocked
    service.receivers.add_webhook("http://127.0.0.1:9/hook", list(EVENT_TYPES))
    [old] = store.outbox.enqueue([draft(ALICE, "old secret")], NOW)
    sent(store, old, NOW)
    inbound = store.inbox.record_received("m1", received(BOB, "old reply", 1), NOW)
    clock.now = NOW + timedelta(days=29)
    [recent] = store.outbox.enqueue([draft(BOB, "recent secret")], clock.now)
    sent(store, recent, clock.now)
    clock.now = NOW + timedelta(days=31)
    assert service.privacy.purge_bodies() == {"messages": 1, "inbox": 1}
    data = event_data(store)
    purged, reply, kept = (data[f"message.sent {old.uid}"], data[f"message.received {inbound.uid}"],
                           data[f"message.sent {recent.uid}"])
    assert (purged["body"], purged["body_purged"], purged["to"], purged["state"]) == ("", True, ALICE, "sent")
    assert (reply["text"], reply["from"], reply["id"]) == ("", BOB, inbound.uid)
    assert (kept["body"], kept["body_purged"]) == ("recent secret", False)


def test_redacting_or_deleting_a_message_empties_its_events_text(store, service):
    from gateway.values import EVENT_TYPES

    service.receivers.add_webhook("http://127.0.0.1:9/hook", list(EVENT_TYPES))
    redacted, deleted, other = store.outbox.enqueue([draft(ALICE, "redact me"), draft(ALICE, "delete me"),
                                                     draft(BOB, "keep me")], NOW)
    for message in (redacted, deleted, other):
        sent(store, message, NOW)
    service.privacy.redact(redacted.uid)
    service.privacy.delete_message(deleted.uid)
    data = event_data(store)
    assert (data[f"message.sent {redacted.uid}"]["body"], data[f"message.sent {redacted.uid}"]["body_purged"]) == (
        "", True)
    assert data[f"message.sent {deleted.uid}"]["body"] == "" and data[f"message.sent {deleted.uid}"]["to"] == ALICE
    assert data[f"message.sent {other.uid}"]["body"] == "keep me"
    with pytest.raises(MessageNotFound):  # refused: nothing changes
        service.privacy.delete_message(deleted.uid)
    assert event_data(store)[f"message.sent {other.uid}"]["body"] == "keep me"


def test_retention_zero_keeps_everything(store):
    service = GatewayService(store, MessagingSettings(body_retention_days=0), clock=lambda: NOW + timedelta(days=999))
    [message] = store.outbox.enqueue([draft(ALICE, "kept")], NOW)
    sent(store, message, NOW)
    assert service.privacy.purge_bodies() == {"messages": 0, "inbox": 0}
    assert store.outbox.get_message(message.uid).body == "kept"


def test_the_purge_job_is_scheduled(service):
    from gateway.appliance.periodic import build_scheduler

    scheduler = build_scheduler(service)
    assert scheduler.get_job("purge_bodies") is not None


def test_erasing_a_number_removes_everything_about_it(client, auth, store, service):
    from gateway.values import EVENT_TYPES

    service.receivers.add_webhook("http://127.0.0.1:9/hook", list(EVENT_TYPES))
    alice_msg, bob_msg = store.outbox.enqueue([draft(ALICE, "for alice"), draft(BOB, "for bob")], NOW)
    sent(store, alice_msg, NOW)
    sent(store, bob_msg, NOW)
    store.inbox.record_received("m1", received(ALICE, "from alice", 1), NOW)
    store.inbox.record_received("m1", received(BOB, "from bob", 2), NOW)
    with store.engine.begin() as conn:
        conn.execute(Suppression.__table__.insert().values(number=ALICE, source="api", since=NOW))
        conn.execute(ConsentEvent.__table__.insert().values(number=ALICE, action="opt_out", source="api", at=NOW))
    group = service.contacts.add_group("Patients")
    for number, name in ((ALICE, "Alice"), (BOB, "Bob")):  # straight into the store: BOB's range is unallocated
        store.contacts.add_contact(number, name, "{}", [group.name], NOW)
    answer = client.delete("/api/v1/numbers/07911 123456", headers=auth)  # national form, normalised
    assert answer.status_code == 200, answer.get_json()
    erased = answer.get_json()["erased"]
    assert erased["messages"] == 1 and erased["parts"] == 1 and erased["inbox"] == 1
    assert erased["events"] == 2 and erased["optouts"] == 2  # message.sent and message.received
    assert erased["contacts"] == 1 and [c.name for c, _ in service.contacts.list_contacts()] == ["Bob"]
    assert service.contacts.list_groups()[0][1] == 1
    with store.engine.connect() as conn:
        everything = " ".join(str(row) for table in (Message, Part, InboxMessage, Event, Suppression, ConsentEvent)
                              for row in conn.execute(select(table.__table__)))
    assert ALICE not in everything and "alice" not in everything
    assert BOB in everything and "for bob" in everything and "from bob" in everything
    audit = client.get("/api/v1/audit", headers=auth).get_json()["entries"]
    assert audit[0]["action"] == "number.erased" and audit[0]["target"] is None
    assert client.delete("/api/v1/numbers/not-a-number", headers=auth).status_code == 422
