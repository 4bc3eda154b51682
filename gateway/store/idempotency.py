"""Idempotency records: the first answer to a keyed POST, kept so that a retry gets it instead of a resend."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from gateway.store.database import Database
from gateway.store.models import IdempotencyRecord

IN_PROGRESS = 0


class IdempotencyRecords:
    """Verbs on idempotency records. The unique (api_key_id, key) constraint makes the claim atomic: of two
    concurrent requests with one key, one inserts and the other finds its row."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def claim_idempotency(self, api_key_id: int, key: str, request_hash: str, now: datetime,
                          kept_since: datetime) -> IdempotencyRecord | None:
        """Claim `key` for a new request (None), or return the record a first request left: its answer, or
        status IN_PROGRESS while it runs. Records older than `kept_since` are forgotten."""
        try:
            with self._db.write() as s:
                # forget every expired record here (indexed on created_at): the table needs no purge job
                s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < kept_since))
                found = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.api_key_id == api_key_id,
                                                                  IdempotencyRecord.key == key)).one_or_none()
                if found is not None:
                    return found
                s.add(IdempotencyRecord(api_key_id=api_key_id, key=key, request_hash=request_hash,
                                        status=IN_PROGRESS, response="", created_at=now))
                return None
        except IntegrityError:  # a concurrent request inserted first: it is running (or finished)
            with self._db.read() as s:
                return s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.api_key_id == api_key_id,
                                                                 IdempotencyRecord.key == key)).one()

    def finish_idempotency(self, api_key_id: int, key: str, status: int, response: str) -> None:
        with self._db.write() as s:
            record = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.api_key_id == api_key_id,
                                                               IdempotencyRecord.key == key)).one_or_none()
            if record is not None:
                record.status, record.response = status, response

    def release_idempotency(self, api_key_id: int, key: str) -> None:
        """The first request failed without an answer worth keeping: a retry may run afresh."""
        with self._db.write() as s:
            s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.api_key_id == api_key_id,
                                                      IdempotencyRecord.key == key,
                                                      IdempotencyRecord.status == IN_PROGRESS))
