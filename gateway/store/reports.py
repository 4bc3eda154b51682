"""Delivery reports: every SMS-STATUS-REPORT is kept; each is matched to its part by modem, message
reference and recipient (references wrap at 256 and repeat across modems), and moves that part, and the
message once all its parts are settled, to `delivered` or `failed`.

A report can arrive before the part's `+CMGS` answer is committed (the modem sends both almost at once):
it is kept unmatched and applied when the part is recorded as sent. Duplicates change nothing; reports
for references nobody sent are kept and logged.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, selectinload

from gateway.store.database import Database
from gateway.store.events import Events
from gateway.store.models import Message, MessageEvent, Part, StatusReportRecord, table
from gateway.store.transitions import transition
from gateway.values import MessageState, PartState, StatusReport

log = logging.getLogger(__name__)

REPORTED_STATES = (PartState.SENT, PartState.DELIVERED, PartState.FAILED)
EARLY_REPORT_WINDOW = timedelta(minutes=10)  # an unmatched report this recent may be for a part just sent
MATCH_DIGITS = 9  # networks write the recipient in national or international form: compare the tail

_reports = table(StatusReportRecord)
_UNMATCHED_REPORTS = (select(_reports.c.id, _reports.c.recipient)  # built once: it runs for every part sent
                      .where(_reports.c.modem == bindparam("p_modem"), _reports.c.reference == bindparam("p_reference"),
                             _reports.c.part_id.is_(None), _reports.c.received_at >= bindparam("p_since")))


def same_number(ours: str, theirs: str) -> bool:
    a, b = "".join(c for c in ours if c.isdigit()), "".join(c for c in theirs if c.isdigit())
    n = min(MATCH_DIGITS, len(a), len(b))
    return n > 0 and a[-n:] == b[-n:]


def is_final(status: int) -> bool:
    """TP-ST 0x00-0x1F: delivered; 0x20-0x3F: the SC is still trying; 0x40 and up: failed for good."""
    return not 0x20 <= status < 0x40


class StatusReports:
    """Verbs on status reports."""

    def __init__(self, db: Database, events: Events) -> None:
        self._db, self._events = db, events

    def record_status_report(self, modem: str, report: StatusReport, now: datetime) -> bool:
        """Keep the report and apply it to its part. True when a part was found for it."""
        with self._db.write() as s:
            record = StatusReportRecord(modem=modem, reference=report.reference, recipient=report.recipient,
                                        status=report.status, sent_at=report.sent_at,
                                        discharged_at=report.discharged_at, received_at=now)
            s.add(record)
            candidates = s.scalars(
                select(Part).join(Message)
                .where(Part.modem == modem, Part.reference == report.reference, Part.state.in_(REPORTED_STATES))
                .order_by(Part.sent_at.desc(), Part.id.desc()).options(selectinload(Part.message))
            )
            part = next((p for p in candidates if same_number(p.message.to_number, report.recipient)), None)
            if part is None:
                log.warning("status report from %s for unknown reference %d kept unmatched", modem,
                            report.reference)
                return False
            record.part_id = part.id
            _apply(s, self._events, part, record, now)
            return True


    def record_receipt(self, upstream: str, uid: str, delivered: bool, detail: str, now: datetime) -> bool:
        """An upstream provider's final word on message `uid`, which it took whole: its parts and the message are
        delivered or failed. False (nothing changed) unless the message was sent through `upstream` and is still
        waiting for its fate."""
        with self._db.write() as s:
            message = s.scalars(select(Message).where(Message.uid == uid)
                                .options(selectinload(Message.parts))).one_or_none()
            if message is None or message.modem != upstream or message.state != MessageState.SENT:
                return False
            for part in message.parts:
                if part.state == PartState.SENT:
                    part.state = PartState.DELIVERED if delivered else PartState.FAILED
                    part.delivered_at = now
            if delivered:
                transition(s, self._events, message, MessageState.DELIVERED, now, modem=upstream, detail=detail)
            else:
                message.error_code, message.error_message = "upstream_undelivered", detail
                transition(s, self._events, message, MessageState.FAILED, now, modem=upstream, detail=detail)
            return True


def apply_early_reports(conn: Connection, events: Events, message_id: int, to_number: str, seq: int, modem: str,
                        reference: int, now: datetime) -> None:
    """Inside the write that records part `seq` of message `message_id` as sent (reference `reference` on
    `modem`): apply the reports for it that came before that commit."""
    unmatched = conn.execute(_UNMATCHED_REPORTS, {"p_modem": modem, "p_reference": reference,
                                                  "p_since": now - EARLY_REPORT_WINDOW}).all()
    ids = [row.id for row in unmatched if same_number(to_number, row.recipient)]
    if not ids:
        return  # the usual case: no Session is needed
    with Session(bind=conn) as s:
        early = s.scalars(select(StatusReportRecord).where(StatusReportRecord.id.in_(ids))
                          .order_by(StatusReportRecord.id)).all()
        part = s.scalars(select(Part).where(Part.message_id == message_id, Part.seq == seq)).one()
        for record in early:
            record.part_id = part.id
            _apply(s, events, part, record, now)
        s.flush()


def _apply(s: Session, events: Events, part: Part, record: StatusReportRecord, now: datetime) -> None:
    if part.state != PartState.SENT:
        log.info("duplicate status report for part %d ignored", part.id)
        return
    part.report_status = record.status
    if not is_final(record.status):
        return  # the network is still trying: the part stays SENT
    delivered = record.status < 0x20
    part.state = PartState.DELIVERED if delivered else PartState.FAILED
    part.delivered_at = record.discharged_at or now
    s.add(MessageEvent(message_id=part.message_id, part_seq=part.seq, state=part.state.value, modem=part.modem,
                       detail=f"status report TP-ST={record.status}", at=now))
    s.flush()
    message = s.get_one(Message, part.message_id, options=[selectinload(Message.parts)])
    s.refresh(message, ["parts"])
    if message.state != MessageState.SENT:
        return  # more parts to send first; the last part's report settles the message
    if not delivered:
        message.error_code = f"tp_st_{record.status}"
        transition(s, events, message, MessageState.FAILED, now, modem=part.modem,
                   detail=f"status report TP-ST={record.status}")
    elif all(p.state == PartState.DELIVERED for p in message.parts):
        transition(s, events, message, MessageState.DELIVERED, now, modem=part.modem)
