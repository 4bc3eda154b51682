"""Idempotent requests: the first answer to a keyed POST is kept and given again to its retries."""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta
from typing import Callable

from gateway.config import MessagingSettings
from gateway.errors import IdempotencyInProgress, IdempotencyKeyReused, ValidationError
from gateway.store import Store
from gateway.store.models import ApiKey

log = logging.getLogger(__name__)



class Idempotency:
    """Verbs on idempotency keys."""

    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime]) -> None:
        self._store, self._settings, self._clock = store, settings, clock

    def claim_idempotency(self, api_key: ApiKey, key: str, request_hash: str) -> tuple[int, str] | None:
        """None when this request is the first with `key` (it must then `finish_idempotency`); else the first
        request's answer (status, body). IdempotencyKeyReused when the key came with another request;
        IdempotencyInProgress while the first is still running."""
        if not key or len(key) > 255:
            raise ValidationError("an idempotency key is 1 to 255 characters", field="Idempotency-Key")
        now = self._clock()
        found = self._store.idempotency.claim_idempotency(api_key.id, key, request_hash, now,
                                                         now - timedelta(seconds=self._settings.idempotency_ttl_s))
        if found is None:
            return None
        if not hmac.compare_digest(found.request_hash, request_hash):
            raise IdempotencyKeyReused("this idempotency key came with a different request", field="Idempotency-Key")
        if found.status == 0:
            raise IdempotencyInProgress("a request with this idempotency key is still being answered")
        return found.status, found.response

    def finish_idempotency(self, api_key: ApiKey, key: str, status: int | None, body: str = "") -> None:
        """Keep the first request's answer; with `status` None (it failed) a retry runs afresh."""
        if status is None:
            self._store.idempotency.release_idempotency(api_key.id, key)
        else:
            self._store.idempotency.finish_idempotency(api_key.id, key, status, body)
