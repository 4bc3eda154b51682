"""Conversations as the page lists them (the store's `threads`, on SQLite and PostgreSQL): one per number,
the latest exchange first, unread received SMS counted until the thread is opened, the latest message either
way; an erased number leaves no thread behind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.values import ReceivedSms

pytestmark = pytest.mark.both_databases

ANN, BOB, CAT = "+447911123401", "+447911123402", "+447911123403"


def test_threads_are_one_per_number_latest_first_with_unread_counts(service, store):
    start = service.clock().replace(microsecond=0)
    index = iter(range(1, 100))

    def receive(sender: str, text: str, minutes: int) -> None:
        store.inbox.record_received("m1", ReceivedSms("SM", next(index), sender, text, start, None,
                                                      f"{next(index):02x}"), start + timedelta(minutes=minutes))

    receive(ANN, "hello from Ann", -10)
    receive(BOB, "first from Bob", -5)
    receive(BOB, "second from Bob", -4)
    [to_ann] = service.messages.send(ANN, "hi Ann, answered")  # now: Ann's thread moves up
    receive(CAT, "Cat writes last", 90)

    threads = service.messages.threads()
    assert [t.number for t in threads] == [CAT, ANN, BOB]
    by_number = {t.number: t for t in threads}
    assert (by_number[BOB].unread, by_number[BOB].last.text) == (2, "second from Bob")
    assert (by_number[ANN].unread, by_number[ANN].last.uid) == (1, to_ann.uid)  # our answer is the latest
    assert by_number[CAT].last_at == start + timedelta(minutes=90)

    assert service.messages.mark_read(BOB) == 2 and service.messages.mark_read(BOB) == 0
    assert {t.number: t.unread for t in service.messages.threads()} == {CAT: 1, ANN: 1, BOB: 0}
    assert [t.number for t in service.messages.threads(numbers=[ANN, BOB])] == [ANN, BOB]

    service.privacy.erase_number(ANN)
    assert [t.number for t in service.messages.threads()] == [CAT, BOB]


def test_a_burst_to_one_number_does_not_hide_the_next_latest_thread(service, store):
    start = service.clock().replace(microsecond=0)
    store.inbox.record_received("m1", ReceivedSms("SM", 1, BOB, "an old question", start, None, "01"),
                                start - timedelta(hours=2))
    service.messages.send(CAT, "sent before the burst")  # newer than Bob's SMS, older than the burst
    for i in range(20):
        service.messages.send(ANN, f"burst {i}")
    assert [t.number for t in service.messages.threads(limit=2)] == [ANN, CAT]
    assert [t.number for t in service.messages.threads(limit=3)] == [ANN, CAT, BOB]
