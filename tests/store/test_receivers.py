"""Received SMS keep the number of the SIM they reached; config-made receivers of received SMS stay right when
several boxes with different configs share one database."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from sqlalchemy import select

from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from gateway.doors import CallbackTarget
from gateway.representations import inbox_json
from gateway.store import Store
from gateway.store.models import Delivery, Event, Webhook
from gateway.values import ReceivedSms
from tests.clock import at

pytestmark = pytest.mark.both_databases  # every test here runs on SQLite and on PostgreSQL

NOW = at(11, 26, 12, 0, 0)
SIM, NEW_SIM = "+447911000001", "+447911000002"
KANNEL, TWILIO = "kannel-get+http://app.lan/sms?from=%p", "twilio-AC0123+http://crm.lan/sms"


def sync(service: GatewayService, *targets: str) -> None:
    """`service`'s box starts with a config naming `targets`."""
    service.receivers.sync_config_receivers([CallbackTarget.parse(t) for t in targets], {"kannel", "twilio"})


def received(text: str, index: int) -> ReceivedSms:
    return ReceivedSms("SM", index, "+447911123456", text, NOW, None, f"{index:02x}")


def test_a_received_sms_keeps_the_number_its_sim_had_then(store, service):
    service.receivers.add_webhook("http://127.0.0.1:9/hook", ["message.received"])
    store.modems.save_modem("m1", "/dev/ttyUSB0", NOW, own_number=SIM)
    first = store.inbox.record_received("m1", received("to the first SIM", 1), NOW)
    store.modems.save_modem("m1", "/dev/ttyUSB0", NOW, own_number=NEW_SIM)  # the SIM was changed
    second = store.inbox.record_received("m1", received("to the new SIM", 2), NOW)
    unknown = store.inbox.record_received("m2", received("to a SIM without +CNUM", 3), NOW)
    assert [inbox_json(m)["to"] for m in store.inbox.list_inbox()] == [None, NEW_SIM, SIM]
    with store.engine.connect() as conn:
        payloads = {row.subject: json.loads(row.payload)["data"] for row in conn.execute(select(Event))}
    assert [payloads[m.uid]["to"] for m in (first, second, unknown)] == [SIM, NEW_SIM, None]


@pytest.fixture
def two_boxes(store, settings):
    """Services of boxes "a" and "b" on one database."""
    other = Store.from_url(settings.database.url, key_file=settings.security.key_file)
    store.db.box, other.db.box = "a", "b"
    yield [GatewayService(s, MessagingSettings(), clock=lambda: NOW, webhook_settings=settings.webhooks)
           for s in (store, other)]
    other.close()


def live_receivers(store) -> dict[str, list[str] | None]:
    """Live webhooks read from the rows: url -> the boxes whose config names it (None: made by an API)."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(Webhook.url, Webhook.config_boxes).where(Webhook.deleted_at.is_(None))
                            .order_by(Webhook.id)).all()
    assert len({row.url for row in rows}) == len(rows), "a receiver is stored twice"
    return {row.url: None if row.config_boxes is None else json.loads(row.config_boxes) for row in rows}


def test_boxes_with_different_configs_keep_each_others_receivers(two_boxes, store):
    a, b = two_boxes
    api_made = a.receivers.add_webhook("http://127.0.0.1:9/hook", ["message.received"]).url
    sync(a, KANNEL)
    sync(b, TWILIO)
    assert live_receivers(store) == {api_made: None, KANNEL: ["a"], TWILIO: ["b"]}
    uids = [w.uid for w in a.receivers.list_webhooks()]
    sync(b, TWILIO)  # a restart with the same config changes nothing
    assert [w.uid for w in a.receivers.list_webhooks()] == uids
    sync(a, KANNEL, TWILIO)  # both name it: one receiver, shared
    assert live_receivers(store) == {api_made: None, KANNEL: ["a"], TWILIO: ["a", "b"]}
    store.inbox.record_received("m1", received("hello", 1), NOW)
    with store.engine.connect() as conn:
        urls = sorted(conn.execute(select(Delivery.url)).scalars())
    assert urls == sorted([api_made, KANNEL, TWILIO])  # each receiver gets the SMS once
    sync(b)  # b's config drops it: a still names it
    assert live_receivers(store) == {api_made: None, KANNEL: ["a"], TWILIO: ["a"]}
    sync(a)
    assert live_receivers(store) == {api_made: None}


def test_receivers_made_before_boxes_were_recorded_are_adopted_or_dropped(two_boxes, store):
    a, b = two_boxes
    for target in (KANNEL, TWILIO):  # as a config made them before migration 0010
        store.events.add_webhook(target, ["message.received"], NOW)
    sync(a, KANNEL)  # no other box here: the one it does not name goes
    assert live_receivers(store) == {KANNEL: ["a"]}


def test_with_other_boxes_an_unnamed_old_receiver_is_kept_and_reported(two_boxes, store, caplog):
    a, b = two_boxes
    b.store.modems.save_modem("b1", "/dev/ttyUSB0", NOW)  # box b runs modems here
    old = store.events.add_webhook(TWILIO, ["message.received"], NOW)
    with caplog.at_level(logging.WARNING, logger="gateway.core.service"):
        sync(a, KANNEL)
    assert live_receivers(store) == {TWILIO: None, KANNEL: ["a"]}  # perhaps box b's: not a's to delete
    assert old.uid in caplog.text
    sync(b, TWILIO)
    assert live_receivers(store) == {TWILIO: ["b"], KANNEL: ["a"]}


def test_boxes_starting_at_once_make_one_receiver(two_boxes, store):
    barrier = threading.Barrier(2)

    def start(service):
        barrier.wait()
        sync(service, TWILIO)

    for _ in range(5):
        threads = [threading.Thread(target=start, args=(service,)) for service in two_boxes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert live_receivers(store) == {TWILIO: ["a", "b"]}
        for service in two_boxes:
            sync(service)
