"""Batches: bulk requests whose messages are counted together."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import func, insert, select

from gateway.errors import BatchNotFound
from gateway.store.database import Database, new_uid
from gateway.store.models import Account, Batch, BatchMessage, Message, table
from gateway.store.outbox import Outbox
from gateway.values import MessageDraft


class Batches:
    """Verbs on batches. The messages are queued by the outbox, in the batch's transaction, then linked."""

    def __init__(self, db: Database, outbox: Outbox) -> None:
        self._db, self._outbox = db, outbox

    def enqueue_batch(self, drafts: Sequence[MessageDraft], rejected: list[dict[str, Any]], row_count: int,
                      template: str | None, now: datetime, api_key_id: int | None = None,
                      account: Account | None = None) -> Batch:
        batch = Batch(uid=new_uid("bat"), template=template, row_count=row_count, accepted=len(drafts),
                      rejected=json.dumps(rejected), api_key_id=api_key_id, created_at=now,
                      account_id=account.id if account is not None else None)
        with self._db.write() as s:
            s.add(batch)
            s.flush()
            if drafts:
                conn = s.connection()
                messages = self._outbox.insert(conn, drafts, now, api_key_id=api_key_id, account=account)
                conn.execute(insert(table(BatchMessage)),
                             [{"batch_id": batch.id, "message_id": m.id} for m in messages])
        return batch

    def get_batch(self, uid: str) -> tuple[Batch, dict[str, int]]:
        """The batch and how many of its messages are in each state."""
        with self._db.read() as s:
            batch = s.scalars(select(Batch).where(Batch.uid == uid)).one_or_none()
            if batch is None:
                raise BatchNotFound(f"no batch {uid}", field="id")
            rows = s.execute(select(Message.state, func.count())
                             .join(BatchMessage, BatchMessage.message_id == Message.id)
                             .where(BatchMessage.batch_id == batch.id).group_by(Message.state)).all()
        return batch, {state.value: count for state, count in rows}

    def batch_messages(self, uid: str) -> list[Message]:
        """The batch's messages, in the order they were queued."""
        with self._db.read() as s:
            batch_id = s.scalar(select(Batch.id).where(Batch.uid == uid))
            if batch_id is None:
                raise BatchNotFound(f"no batch {uid}", field="id")
            return list(s.scalars(select(Message).join(BatchMessage, BatchMessage.message_id == Message.id)
                                  .where(BatchMessage.batch_id == batch_id).order_by(Message.id)))
