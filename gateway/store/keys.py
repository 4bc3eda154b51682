"""API keys: only a hash of each token is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import bindparam, select, update

from gateway.errors import KeyNotFound
from gateway.store.database import Database
from gateway.store.models import ApiKey, table

_keys = table(ApiKey)
_KEY_BY_HASH = select(*_keys.c).where(_keys.c.key_hash == bindparam("p_key_hash"))


class ApiKeys:
    """Verbs on API keys."""

    def __init__(self, db: Database) -> None:
        self._db = db


    def add_key(self, name: str, prefix: str, key_hash: str, scopes: Sequence[str], now: datetime,
                expires_at: datetime | None = None, account_id: int | None = None) -> ApiKey:
        key = ApiKey(name=name, prefix=prefix, key_hash=key_hash, scopes=",".join(scopes), created_at=now,
                     expires_at=expires_at, account_id=account_id)
        with self._db.write() as s:
            s.add(key)
        return key

    def find_key(self, key_hash: str) -> ApiKey | None:
        with self._db.read_core() as conn:
            row = conn.execute(_KEY_BY_HASH, {"p_key_hash": key_hash}).one_or_none()
        return None if row is None else ApiKey(**row._asdict())

    def touch_key(self, key_id: int, now: datetime) -> None:
        with self._db.write() as s:
            s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))

    def list_keys(self) -> list[ApiKey]:
        with self._db.read() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.id)))

    def revoke_key(self, key_id: int, now: datetime) -> ApiKey:
        with self._db.write() as s:
            key = s.get(ApiKey, key_id)
            if key is None:
                raise KeyNotFound(f"no API key {key_id}", field="id")
            if key.revoked_at is None:
                key.revoked_at = now
            return key

    def get_key(self, key_id: int) -> ApiKey:
        with self._db.read() as s:
            key = s.get(ApiKey, key_id)
        if key is None:
            raise KeyNotFound(f"no API key {key_id}", field="id")
        return key

    def expire_key(self, key_id: int, at: datetime) -> ApiKey:
        """The key stops working at `at` (or at its own earlier expiry)."""
        with self._db.write() as s:
            key = s.get(ApiKey, key_id)
            if key is None:
                raise KeyNotFound(f"no API key {key_id}", field="id")
            if key.expires_at is None or key.expires_at > at:
                key.expires_at = at
            return key
