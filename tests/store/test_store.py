"""The store against a real SQLite file: claims, retries, crash recovery, inbox reassembly, reports."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.store.models import Event
from gateway.values import Concat, MessageDraft, MessageState, PartState, ReceivedSms, SentPart, StatusReport
from tests.clock import at

pytestmark = pytest.mark.both_databases  # every test here runs on SQLite and on PostgreSQL

NOW = at(11, 26, 12, 0, 0)


def draft(to="+447911123456", parts=("hello",), report=False):
    return MessageDraft(to_number=to, body="".join(parts), encoding="gsm7", parts=tuple(parts),
                        delivery_report=report)


def test_enqueue_commits_queued_messages_with_history(store):
    [message] = store.outbox.enqueue([draft()], NOW)
    loaded = store.outbox.get_message(message.uid)
    assert loaded.state == MessageState.QUEUED
    assert [p.state for p in loaded.parts] == [PartState.PENDING]
    assert [e.state for e in loaded.events] == ["queued"]


def test_a_bulk_enqueue_answers_each_message_with_its_own_row(store):
    numbers = [f"+4479111234{i:02d}" for i in range(40)]
    queued = store.outbox.enqueue([draft(to=number) for number in numbers], NOW)
    assert [m.to_number for m in queued] == numbers
    for message in queued:
        loaded = store.outbox.get_message(message.uid)
        assert (loaded.id, loaded.to_number) == (message.id, message.to_number)


def test_claims_are_exclusive_across_threads(store):
    store.outbox.enqueue([draft(to=f"+4479111234{i:02d}") for i in range(60)], NOW)
    claimed, lock = [], threading.Lock()

    def worker(name):
        while (job := store.outbox.claim_next(name, NOW, 60)) is not None:
            with lock:
                claimed.append(job.message_id)

    threads = [threading.Thread(target=worker, args=(f"m{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 60


def test_multipart_send_records_each_reference_and_pins_the_modem(store):
    [message] = store.outbox.enqueue([draft(parts=("a" * 153, "b"))], NOW)
    job = store.outbox.claim_next("m1", NOW, 60)
    assert job.first_seq == 1 and job.parts == ("a" * 153, "b")
    assert store.outbox.record_part_sent(job, 1, "m1", 17, NOW) == MessageState.SENDING
    assert store.outbox.record_part_sent(job, 2, "m1", 18, NOW) == MessageState.SENT
    loaded = store.outbox.get_message(message.uid)
    assert [(p.reference, p.state) for p in loaded.parts] == [(17, PartState.SENT), (18, PartState.SENT)]
    assert loaded.pinned_modem == "m1"


def test_temporary_failure_requeues_away_from_the_failing_modem(store):
    [message] = store.outbox.enqueue([draft()], NOW)
    job = store.outbox.claim_next("m1", NOW, 60)
    store.outbox.record_temporary_failure(job, 1, "m1", "cms_42", "congestion", NOW + timedelta(seconds=5), 5, NOW)
    assert store.outbox.get_message(message.uid).state == MessageState.QUEUED
    later = NOW + timedelta(seconds=5)
    assert store.outbox.claim_next("m1", later, 60) is None  # avoided for a grace period
    assert store.outbox.next_due_at("m1", later) == later + timedelta(seconds=2)
    assert store.outbox.claim_next("m2", later, 60).message_id == job.message_id


def test_attempts_exhausted_fail_the_message(store):
    [message] = store.outbox.enqueue([draft()], NOW)
    for attempt in range(2):
        job = store.outbox.claim_next("m1", NOW + timedelta(minutes=attempt), 60)
        store.outbox.record_temporary_failure(job, 1, "m1", "cms_500", "unknown", NOW, 2, NOW)
    loaded = store.outbox.get_message(message.uid)
    assert loaded.state == MessageState.FAILED and loaded.error_code == "cms_500"
    assert loaded.parts[0].state == PartState.FAILED


def test_release_after_crash_marks_in_flight_parts_unknown_and_requeues_the_rest(store):
    [in_flight, claimed_only] = store.outbox.enqueue([draft(parts=("a" * 153, "b")), draft(to="+12025550143")], NOW)
    job = store.outbox.claim_next("m1", NOW, 60)
    store.outbox.mark_part_submitting(job, 1, "m1", NOW)
    store.outbox.record_part_sent(job, 1, "m1", 5, NOW)
    store.outbox.mark_part_submitting(job, 2, "m1", NOW)  # the "crash" happens while the modem has part 2
    store.outbox.claim_next("m2", NOW, 60)  # claimed, nothing written yet
    requeued, unknown = store.outbox.release_claims(NOW)
    assert (requeued, unknown) == (1, 1)
    first = store.outbox.get_message(in_flight.uid)
    assert first.state == MessageState.UNKNOWN
    assert [p.state for p in first.parts] == [PartState.SENT, PartState.UNKNOWN]
    second = store.outbox.get_message(claimed_only.uid)
    assert second.state == MessageState.QUEUED and second.parts[0].state == PartState.PENDING
    assert store.outbox.claim_next("m1", NOW, 60).message_id == second.id  # unknown ones are never claimed again


def test_a_claim_for_sending_marks_the_first_part_going_out_so_a_crash_leaves_it_unknown(store):
    [single, rest] = store.outbox.enqueue([draft(), draft(to="+12025550143", parts=("a" * 153, "b"))], NOW)
    job = store.outbox.claim_next("m1", NOW, 60, submitting=True)
    assert job.first_seq == 1
    assert [p.state for p in store.outbox.get_message(single.uid).parts] == [PartState.SUBMITTING]
    later = store.outbox.claim_next("m2", NOW, 60)
    store.outbox.record_part_sent(later, 1, "m2", 7, NOW)  # part 1 left; the crash comes before part 2 is marked
    assert store.outbox.release_claims(NOW) == (1, 1)
    first = store.outbox.get_message(single.uid)
    assert first.state == MessageState.UNKNOWN and first.parts[0].state == PartState.UNKNOWN
    second = store.outbox.get_message(rest.uid)
    assert second.state == MessageState.QUEUED and second.pinned_modem == "m2"
    resumed = store.outbox.claim_next("m2", NOW, 60, submitting=True)  # the rest goes on from part 2, marked at once
    assert (resumed.message_id, resumed.first_seq) == (second.id, 2)
    assert [p.state for p in store.outbox.get_message(rest.uid).parts] == [PartState.SENT, PartState.SUBMITTING]


def test_recording_a_part_sent_claims_the_next_in_the_same_commit(store):
    [first, second, third] = store.outbox.enqueue([draft(), draft(to="+12025550143", parts=("a" * 153, "b")),
                                                   draft(to="+12025550144")], NOW)
    job = store.outbox.claim_next("m1", NOW, 60, submitting=True)
    later = NOW + timedelta(seconds=1)
    following = store.outbox.record_sent_claim_next(SentPart(job, 1, 9, NOW), "m1", later, 60)
    sent = store.outbox.get_message(first.uid)
    assert sent.state == MessageState.SENT and sent.parts[0].reference == 9 and sent.sent_at == NOW
    assert [e.state for e in sent.events] == ["queued", "sending", "sent", "sent"]
    assert following.message_id == second.id and following.first_seq == 1
    claimed = store.outbox.get_message(second.uid)  # claimed ahead: nothing of it is marked until it is written
    assert claimed.state == MessageState.SENDING and claimed.modem == "m1"
    assert [p.state for p in claimed.parts] == [PartState.PENDING, PartState.PENDING]
    store.outbox.mark_part_submitting(following, 1, "m1", later)
    with pytest.raises(ValueError):  # part 1 of 2 is not the end of the message: no claim while it is sent
        store.outbox.record_sent_claim_next(SentPart(following, 1, 10, later), "m1", later, 60)
    store.outbox.record_part_sent(following, 1, "m1", 10, later)
    store.outbox.mark_part_submitting(following, 2, "m1", later)
    final = store.outbox.record_sent_claim_next(SentPart(following, 2, 11, later), "m1", later, 60)
    assert final.message_id == third.id
    store.outbox.mark_part_submitting(final, 1, "m1", later)
    assert store.outbox.record_sent_claim_next(SentPart(final, 1, 12, later), "m1", later, 60) is None  # none left
    assert store.outbox.count_by_state() == {"sent": 3}


def test_a_part_answered_before_a_crash_is_recovered_sent_with_its_report(store):
    """The worker notes the modem's answer in the commit that marks the next part: a crash before the answered
    part's own record leaves it sent (its early report applied), and only the part written after it unknown."""
    [answered, written] = store.outbox.enqueue([draft(report=True), draft(to="+12025550143")], NOW)
    job = store.outbox.claim_next("m1", NOW, 60, submitting=True)
    ahead = store.outbox.claim_next("m1", NOW, 60)
    assert store.outbox.hand_over(ahead, "m1", NOW, SentPart(job, 1, 77, NOW), 60) == ahead
    report = StatusReport(None, None, 77, "+447911123456", 0, NOW, NOW)
    assert not store.reports.record_status_report("m1", report, NOW)  # not recorded sent yet: kept unmatched
    later = NOW + timedelta(seconds=5)
    assert store.outbox.release_claims(later, modem="m1") == (0, 1)
    recovered = store.outbox.get_message(answered.uid)
    assert recovered.state == MessageState.DELIVERED and recovered.parts[0].reference == 77
    assert recovered.sent_at == NOW
    assert [e.state for e in recovered.events][-4:] == ["sent", "sent", "delivered", "delivered"]
    assert store.outbox.get_message(written.uid).state == MessageState.UNKNOWN


def test_a_more_urgent_message_that_came_meanwhile_overtakes_the_one_claimed_ahead(store):
    from dataclasses import replace

    bulk = replace(draft(), priority=2)
    [_, second] = store.outbox.enqueue([bulk, bulk], NOW)
    job = store.outbox.claim_next("m1", NOW, 60, submitting=True)
    ahead = store.outbox.claim_next("m1", NOW, 60)  # claimed while the modem sends the first
    [otp] = store.outbox.enqueue([replace(draft(to="+12025550143"), priority=0)], NOW)
    overtaking = store.outbox.hand_over(ahead, "m1", NOW, SentPart(job, 1, 5, NOW), 60, overtake=True)
    assert (overtaking.message_id, overtaking.priority) == (otp.id, 0)
    assert [p.state for p in store.outbox.get_message(otp.uid).parts] == [PartState.SUBMITTING]
    given_back = store.outbox.get_message(second.uid)
    assert given_back.state == MessageState.QUEUED and given_back.attempts == 0
    assert given_back.events[-1].detail == "claim given back: a more urgent message came"
    ahead = store.outbox.claim_next("m1", NOW, 60)
    assert store.outbox.hand_over(ahead, "m1", NOW, None, 60, overtake=True) == ahead  # nothing more urgent now
    assert [p.state for p in store.outbox.get_message(second.uid).parts] == [PartState.SUBMITTING]


def test_a_claim_given_back_does_not_count_as_an_attempt(store):
    [message] = store.outbox.enqueue([draft()], NOW)
    job = store.outbox.claim_next("m1", NOW, 60)
    store.outbox.mark_part_submitting(job, 1, "m1", NOW)  # marked, then the worker stopped before writing it
    store.outbox.give_back(job, "m1", NOW)
    returned = store.outbox.get_message(message.uid)
    assert returned.state == MessageState.QUEUED and returned.attempts == 0 and returned.modem is None
    assert [p.state for p in returned.parts] == [PartState.PENDING]
    assert returned.events[-1].detail == "claim given back: the modem stopped before sending it"
    assert store.outbox.claim_next("m2", NOW, 60).attempt == 1
    store.outbox.give_back(job, "m1", NOW)  # m2 holds it now: not m1's to give back
    assert store.outbox.get_message(message.uid).modem == "m2"


def test_cancel_only_while_queued(store):
    import pytest

    from gateway.errors import ConflictError

    [message] = store.outbox.enqueue([draft()], NOW)
    assert store.outbox.cancel(message.uid, NOW).state == MessageState.CANCELLED
    assert store.outbox.claim_next("m1", NOW, 60) is None
    with pytest.raises(ConflictError):
        store.outbox.cancel(message.uid, NOW)


def sms(text, *, index, concat=None, pdu=None):
    return ReceivedSms(memory="SM", index=index, sender="+447911123456", text=text, sent_at=NOW, concat=concat,
                       pdu_hex=pdu or f"PDU{index}{text}")


def test_concatenated_inbound_parts_reassemble_in_any_order_and_only_once(store):
    parts = [sms("world", index=2, concat=Concat(9, 3, 2)), sms("!", index=3, concat=Concat(9, 3, 3)),
             sms("hello ", index=1, concat=Concat(9, 3, 1))]
    assert store.inbox.record_received("m1", parts[0], NOW) is None
    assert store.inbox.record_received("m1", parts[1], NOW) is None
    inbox = store.inbox.record_received("m1", parts[2], NOW)
    assert inbox.text == "hello world!" and inbox.part_count == 3
    for part in parts:  # read again after a crash before the delete: kept once
        assert store.inbox.record_received("m1", part, NOW) is None
    assert [m.text for m in store.inbox.list_inbox()] == ["hello world!"]


def test_the_same_stored_sms_read_twice_is_kept_once(store):
    assert store.inbox.record_received("m1", sms("hi", index=1), NOW) is not None
    assert store.inbox.record_received("m1", sms("hi", index=1), NOW) is None
    assert len(store.inbox.list_inbox()) == 1


def test_status_report_matches_by_modem_reference_and_recipient(store):
    [message] = store.outbox.enqueue([draft(report=True)], NOW)
    job = store.outbox.claim_next("m1", NOW, 60)
    store.outbox.record_part_sent(job, 1, "m1", 200, NOW)
    other = StatusReport(memory=None, index=None, reference=200, recipient="+12025550143", status=0,
                         sent_at=NOW, discharged_at=NOW)
    assert not store.reports.record_status_report("m1", other, NOW)
    report = StatusReport(None, None, 200, "+447911123456", 0, NOW, NOW)
    assert not store.reports.record_status_report("m2", report, NOW)
    assert store.reports.record_status_report("m1", StatusReport(None, None, 200, "+447911123456", 0, NOW, NOW), NOW)
    assert store.outbox.get_message(message.uid).state == MessageState.DELIVERED


def test_parts_that_never_complete_are_flushed_as_an_incomplete_message(store):
    store.inbox.record_received("m1", sms("first half ", index=1, concat=Concat(4, 3, 1)), NOW)
    store.inbox.record_received("m1", sms("third", index=3, concat=Concat(4, 3, 3)), NOW)
    assert store.inbox.flush_incomplete(NOW - timedelta(seconds=1), NOW) == 0
    assert store.inbox.flush_incomplete(NOW + timedelta(seconds=1), NOW) == 1
    [inbox] = store.inbox.list_inbox()
    assert (inbox.text, inbox.part_count, inbox.parts_expected, inbox.state.value) == (
        "first half [part 2 of 3 missing]third", 2, 3, "incomplete")
    assert store.inbox.flush_incomplete(NOW + timedelta(hours=1), NOW) == 0


def test_multipart_sms_waiting_for_parts_are_listed(store):
    store.inbox.record_received("m1", sms("one ", index=1, concat=Concat(9, 3, 1)), NOW)
    store.inbox.record_received("m1", sms("three", index=2, concat=Concat(9, 3, 3)), NOW + timedelta(seconds=5))
    [group] = store.inbox.waiting_parts()
    assert (group.modem, group.reference, group.total, group.received, group.first_received_at) == (
        "m1", 9, 3, (1, 3), NOW)
    store.inbox.record_received("m1", sms("two ", index=3, concat=Concat(9, 3, 2)), NOW)
    assert store.inbox.waiting_parts() == []


def test_a_late_part_completes_the_message_flushed_without_it(store):
    store.events.add_webhook("http://127.0.0.1:9/h", ["message.received", "message.updated"], NOW)  # events kept
    store.inbox.record_received("m1", sms("first ", index=1, concat=Concat(4, 3, 1)), NOW)
    store.inbox.record_received("m1", sms("third", index=3, concat=Concat(4, 3, 3)), NOW)
    store.inbox.flush_incomplete(NOW + timedelta(seconds=1), NOW)
    late = store.inbox.record_received("m1", sms("second ", index=2, concat=Concat(4, 3, 2)), NOW + timedelta(hours=2))
    [inbox] = store.inbox.list_inbox()
    assert late is not None and late.uid == inbox.uid
    assert (inbox.text, inbox.part_count, inbox.state.value) == ("first second third", 3, "complete")
    with store.engine.connect() as conn:
        types = [row.type for row in conn.execute(select(Event.type).order_by(Event.id))]
    assert types == ["message.received", "message.updated"]


def test_a_reused_reference_after_a_flush_starts_a_new_message(store):
    store.inbox.record_received("m1", sms("old one ", index=1, concat=Concat(4, 3, 1)), NOW)
    store.inbox.record_received("m1", sms("old three", index=3, concat=Concat(4, 3, 3)), NOW)
    store.inbox.flush_incomplete(NOW + timedelta(seconds=1), NOW)
    store.inbox.record_received("m1", sms("new one ", index=4, concat=Concat(4, 3, 1)), NOW + timedelta(minutes=9))
    store.inbox.record_received("m1", sms("new two ", index=5, concat=Concat(4, 3, 2)), NOW + timedelta(minutes=9))
    store.inbox.record_received("m1", sms("new three", index=6, concat=Concat(4, 3, 3)), NOW + timedelta(minutes=9))
    assert [(m.text, m.state.value) for m in store.inbox.list_inbox()] == [
        ("new one new two new three", "complete"), ("old one [part 2 of 3 missing]old three", "incomplete")]


def test_a_report_that_beats_the_cmgs_answer_is_applied_when_the_part_is_recorded(store):
    [message] = store.outbox.enqueue([draft(report=True)], NOW)
    job = store.outbox.claim_next("m1", NOW, 60)
    store.outbox.mark_part_submitting(job, 1, "m1", NOW)
    early = StatusReport(None, None, 42, "07911123456", 0, NOW, NOW)  # national form, before +CMGS is committed
    assert not store.reports.record_status_report("m1", early, NOW)
    store.outbox.record_part_sent(job, 1, "m1", 42, NOW)
    assert store.outbox.get_message(message.uid).state == MessageState.DELIVERED


def test_duplicate_and_unknown_reports_change_nothing(store):
    [message] = store.outbox.enqueue([draft(report=True)], NOW)
    job = store.outbox.claim_next("m1", NOW, 60)
    store.outbox.record_part_sent(job, 1, "m1", 7, NOW)
    report = StatusReport(None, None, 7, "+447911123456", 0x41, NOW, NOW)  # failed for good
    assert store.reports.record_status_report("m1", report, NOW)
    assert store.reports.record_status_report("m1", report, NOW)  # the same report again
    assert store.reports.record_status_report("m1", StatusReport(None, None, 7, "+447911123456", 0, NOW, NOW), NOW)
    failed = store.outbox.get_message(message.uid)
    assert failed.state == MessageState.FAILED and failed.error_code == "tp_st_65"
    assert [e.state for e in failed.events].count("failed") == 2  # the part's and the message's, once each
    assert not store.reports.record_status_report("m1", StatusReport(None, None, 99, "+15550000000", 0, NOW, NOW), NOW)


def test_a_report_still_pending_at_the_network_keeps_the_part_sent(store):
    [message] = store.outbox.enqueue([draft(report=True)], NOW)
    job = store.outbox.claim_next("m1", NOW, 60)
    store.outbox.record_part_sent(job, 1, "m1", 3, NOW)
    store.reports.record_status_report("m1", StatusReport(None, None, 3, "+447911123456", 0x20, NOW, NOW), NOW)
    loaded = store.outbox.get_message(message.uid)
    assert loaded.state == MessageState.SENT and loaded.parts[0].report_status == 0x20
    assert store.outbox.mark_reports_overdue(NOW + timedelta(seconds=1)) == 1
    assert store.outbox.get_message(message.uid).report_overdue
    assert store.outbox.mark_reports_overdue(NOW + timedelta(seconds=1)) == 0


def test_the_migrations_build_exactly_the_models(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from gateway.store.models import Base

    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_a_multipart_message_stranded_on_a_modem_that_stopped_sending_fails_after_the_wait(store):
    store.events.add_webhook("http://127.0.0.1:9/hook", ["message.failed"], NOW)
    [stranded, chosen] = store.outbox.enqueue([draft(parts=("a" * 153, "b")), draft(to="+12025550143")], NOW)
    job = store.outbox.claim_next("m1", NOW, 60)
    store.outbox.record_part_sent(job, 1, "m1", 17, NOW)
    store.outbox.release_claims(NOW, modem="m1")  # m1 went away after part 1: the rest must leave from m1
    wait_s = 3600
    assert store.outbox.fail_stranded(NOW + timedelta(seconds=wait_s - 1), wait_s) == 0  # not yet
    assert store.outbox.fail_stranded(NOW + timedelta(seconds=wait_s), wait_s) == 1
    message = store.outbox.get_message(stranded.uid)
    assert message.state == MessageState.FAILED and message.error_code == "modem_gone"
    assert [p.state for p in message.parts] == [PartState.SENT, PartState.FAILED]
    assert "1 of 2 parts left on modem m1" in message.error_message
    [delivery] = store.events.claim_deliveries(NOW + timedelta(seconds=wait_s), 10, 60)
    assert delivery.event_type == "message.failed" and stranded.uid.encode() in delivery.body
    assert store.outbox.get_message(chosen.uid).state == MessageState.QUEUED  # nothing of it left: not stranded
    assert store.outbox.fail_stranded(NOW + timedelta(days=1), wait_s) == 0
    store.outbox.retry(stranded.uid, NOW + timedelta(days=1))  # whole again, from any modem, as a new concatenation
    again = store.outbox.get_message(stranded.uid)
    assert again.state == MessageState.QUEUED and again.pinned_modem is None
    assert [(p.state, p.modem, p.reference) for p in again.parts] == [(PartState.PENDING, None, None)] * 2
    assert store.outbox.claim_next("m2", NOW + timedelta(days=1), 60).first_seq == 1


def test_a_box_takes_its_name_beats_and_a_silent_one_is_settled(store):
    from gateway.errors import BoxNameTaken
    from gateway.values import ModemState

    alive, never_gone = timedelta(seconds=10), (lambda host, pid: False)
    assert store.boxes.register("a", "h1", 1, "0.2.0", NOW, alive, never_gone) == 1
    with pytest.raises(BoxNameTaken, match="already runs on h1 \\(pid 1"):
        store.boxes.register("a", "h2", 2, "0.2.0", NOW + timedelta(seconds=5), alive, never_gone)
    assert store.boxes.register("a", "h1", 3, "0.2.0", NOW, alive, lambda host, pid: pid == 1) == 2  # it restarted
    assert not store.boxes.beat("a", 1, NOW) and store.boxes.beat("a", 2, NOW)  # the old incarnation is fenced
    store.modems.save_modem("a1", "/dev/x", NOW, state=ModemState.ONLINE)
    with store.engine.begin() as conn:  # the modem is box a's
        conn.exec_driver_sql("UPDATE modems SET box = 'a' WHERE name = 'a1'")
    [message] = store.outbox.enqueue([draft()], NOW)
    assert store.outbox.claim_next("a1", NOW, 300) is not None
    assert store.boxes.settle_dead(NOW + timedelta(seconds=5), alive) == []
    assert store.boxes.settle_dead(NOW + timedelta(seconds=11), alive) == ["a"]
    assert store.boxes.settle_dead(NOW + timedelta(seconds=12), alive) == []  # declared once
    assert store.outbox.get_message(message.uid).state == MessageState.QUEUED  # long before its lease ends
    [modem] = store.modems.list_modems()
    assert modem.state == ModemState.OFFLINE and "box a stopped answering" in modem.last_error
    assert not store.boxes.beat("a", 2, NOW + timedelta(seconds=13))  # it must take its name again
    assert store.boxes.register("a", "h2", 9, "0.2.0", NOW + timedelta(seconds=13), alive, never_gone) == 3
    store.boxes.stopped("a", 3, NOW + timedelta(seconds=14))
    assert [(b.name, b.state, b.host) for b in store.boxes.list_boxes()] == [("a", "stopped", "h2")]


def test_a_claim_settled_by_another_box_fences_the_next_part(store):
    from gateway.errors import ClaimLost

    [message] = store.outbox.enqueue([draft(parts=("one ", "two"))], NOW)
    job = store.outbox.claim_next("m1", NOW, 300, submitting=True)
    store.outbox.record_part_sent(job, 1, "m1", 7, NOW)
    store.outbox.release_claims(NOW, modems=["m1"])  # its box was declared dead between the parts
    with pytest.raises(ClaimLost, match="no longer claimed by m1"):
        store.outbox.mark_part_submitting(job, 2, "m1", NOW)
    assert [p.state for p in store.outbox.get_message(message.uid).parts] == [PartState.SENT, PartState.PENDING]
    again = store.outbox.claim_next("m1", NOW, 300, submitting=True)  # pinned to m1: it takes it up again
    assert again is not None and again.first_seq == 2


def test_a_part_is_not_marked_while_another_box_settles_its_claim(store):
    """The fence holds the message's row: marking a part waits for a settle in progress, then refuses."""
    from sqlalchemy import update

    from gateway.errors import ClaimLost
    from gateway.store.models import Message
    from tests.writers import until_someone_waits_on_a_lock

    [message] = store.outbox.enqueue([draft()], NOW)
    job = store.outbox.claim_next("m1", NOW, 300)  # claimed ahead: nothing marked yet
    outcome = []

    def mark():
        try:
            store.outbox.mark_part_submitting(job, 1, "m1", NOW)
            outcome.append("marked")
        except ClaimLost:
            outcome.append("fenced")

    marker = threading.Thread(target=mark)
    with store.db.write_core() as conn:  # another box declared m1's box dead and settles its claims
        conn.execute(update(Message).where(Message.id == job.message_id).values(state=MessageState.QUEUED,
                                                                                modem=None))
        marker.start()
        until_someone_waits_on_a_lock(store)
    marker.join(10)
    assert outcome == ["fenced"]
    assert [p.state for p in store.outbox.get_message(message.uid).parts] == [PartState.PENDING]


def test_claim_limits_keep_a_fallback_to_late_work_and_a_slow_target_to_waiting_otps(store):
    from dataclasses import replace

    from gateway.rules.claiming import ClaimLimits

    now = at(11, 26, 12)
    otp, normal = store.outbox.enqueue([replace(draft(), priority=0), draft("+447911123457")], now)
    fallback = ClaimLimits(due_after_s=10, max_priority=0)  # an upstream kept for OTPs no modem took in 10 s
    assert store.outbox.claim_next("up", now + timedelta(seconds=9), 60, limits=fallback) is None
    assert store.outbox.next_due_at("up", now, limits=fallback) == now + timedelta(seconds=10)
    slow = ClaimLimits(urgent_after_s=30)  # too slow for one-time codes: the normal one first, though the OTP leads
    assert store.outbox.claim_next("slow", now, 60, limits=slow).message_id == normal.id
    assert store.outbox.next_due_at("slow", now, limits=slow) == now + timedelta(seconds=30)
    assert store.outbox.claim_next("up", now + timedelta(seconds=10), 60, limits=fallback).message_id == otp.id
