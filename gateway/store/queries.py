"""The Store: every read and write the gateway does, one class composed of one part per area.

Nobody outside gateway/store imports Session; verbs return detached model objects or frozen values.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Sequence

from sqlalchemy import bindparam, select, update

from gateway.errors import KeyNotFound
from gateway.store.audit import AuditStore
from gateway.store.base import StoreBase, make_engine, new_uid
from gateway.store.batches import BatchStore
from gateway.store.consent import ConsentStore
from gateway.store.idempotency import IdempotencyStore
from gateway.store.inbox import InboxStore
from gateway.store.models import ApiKey, Modem
from gateway.store.otp import OtpStore
from gateway.store.outbox import MessageDraft, SendJob
from gateway.store.ratelimits import RequestCountStore
from gateway.store.reports import ReportStore
from gateway.store.templates import TemplateStore
from gateway.values import ModemState

log = logging.getLogger(__name__)

_keys = ApiKey.__table__
_KEY_BY_HASH = select(*_keys.c).where(_keys.c.key_hash == bindparam("p_key_hash"))


class Store(AuditStore, ConsentStore, TemplateStore, OtpStore, IdempotencyStore, BatchStore, ReportStore, InboxStore,
            RequestCountStore, StoreBase):
    """The gateway's store: outbox (with reports and events), inbox, modems and API keys."""

    # --- modems --------------------------------------------------------------------------------

    def save_modem(self, name: str, port: str, now: datetime, **fields) -> None:
        """Record what the pool knows about a modem (creating its row on first sight)."""
        with self._write() as s:
            modem = s.get(Modem, name)
            if modem is None:
                modem = Modem(name=name, port=port, state=ModemState.CONNECTING, updated_at=now)
                s.add(modem)
            if self.box and modem.box != self.box:
                if modem.box:
                    log.warning("modem %s moves from box %s to box %s: modem names must be unique across boxes",
                                name, modem.box, self.box)
                modem.box = self.box
            modem.port, modem.updated_at = port, now
            for key, value in fields.items():
                setattr(modem, key, value)

    def list_modems(self) -> list[Modem]:
        with self._read() as s:
            return list(s.scalars(select(Modem).order_by(Modem.name)))

    # --- API keys ------------------------------------------------------------------------------

    def add_key(self, name: str, prefix: str, key_hash: str, scopes: Sequence[str], now: datetime,
                expires_at: datetime | None = None) -> ApiKey:
        key = ApiKey(name=name, prefix=prefix, key_hash=key_hash, scopes=",".join(scopes), created_at=now,
                     expires_at=expires_at)
        with self._write() as s:
            s.add(key)
        return key

    def find_key(self, key_hash: str) -> ApiKey | None:
        with self._read_core() as conn:
            row = conn.execute(_KEY_BY_HASH, {"p_key_hash": key_hash}).one_or_none()
        return None if row is None else ApiKey(**row._asdict())

    def touch_key(self, key_id: int, now: datetime) -> None:
        with self._write() as s:
            s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))

    def list_keys(self) -> list[ApiKey]:
        with self._read() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.id)))

    def revoke_key(self, key_id: int, now: datetime) -> ApiKey:
        with self._write() as s:
            key = s.get(ApiKey, key_id)
            if key is None:
                raise KeyNotFound(f"no API key {key_id}", field="id")
            if key.revoked_at is None:
                key.revoked_at = now
            return key

    def get_key(self, key_id: int) -> ApiKey:
        with self._read() as s:
            key = s.get(ApiKey, key_id)
        if key is None:
            raise KeyNotFound(f"no API key {key_id}", field="id")
        return key

    def expire_key(self, key_id: int, at: datetime) -> ApiKey:
        """The key stops working at `at` (or at its own earlier expiry)."""
        with self._write() as s:
            key = s.get(ApiKey, key_id)
            if key is None:
                raise KeyNotFound(f"no API key {key_id}", field="id")
            if key.expires_at is None or key.expires_at > at:
                key.expires_at = at
            return key


__all__ = ["Store", "StoreBase", "MessageDraft", "SendJob", "make_engine", "new_uid"]
