"""One-time codes: send one (high priority, masked once sent) and verify it."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from gateway.config import MessagingSettings
from gateway.core.accounts import charged
from gateway.core.consent import Consent
from gateway.core.ports import PoolControl
from gateway.core.queue_policy import QueuePolicy
from gateway.core.templates import Templates
from gateway.errors import MessageTooLong, ValidationError
from gateway.rules import otp, templates
from gateway.rules.numbers import to_e164
from gateway.rules.text import normalise_body, segment
from gateway.store import Store
from gateway.store.database import new_uid
from gateway.store.models import ApiKey, Message, OtpCode
from gateway.values import PRIORITIES, MessageDraft, Verification

log = logging.getLogger(__name__)



class OneTimeCodes:
    """Verbs on one-time codes."""

    def __init__(self, store: Store, settings: MessagingSettings, pool: PoolControl, clock: Callable[[], datetime],
                 policy: QueuePolicy, consent: Consent, templates: Templates) -> None:
        self._store, self._settings, self._pool, self._clock = store, settings, pool, clock
        self._policy, self._consent, self._templates = policy, consent, templates

    def send_otp(self, to: str, *, template: str | None = None, length: int = 6, alphabet: str = "digits",
                 ttl_s: int | None = None, api_key: ApiKey | None = None) -> tuple[OtpCode, Message]:
        """Send a one-time code with high priority. The message's stored body shows the code masked; only its
        parts (what goes to the modem) carry it. Returns the code's record (no code in it) and the message."""
        ttl_s = self._settings.otp_ttl_s if ttl_s is None else ttl_s
        otp.check_request(length, alphabet, ttl_s)
        number = to_e164(to, self._settings)
        self._consent.refuse_opted_out([number], "transactional")
        account = charged(self._store, api_key, None)
        text = otp.DEFAULT_TEMPLATE
        if template is not None:
            text = self._templates.template_text(template, seen_by=account)
        code = otp.new_code(length, alphabet)
        real, shown = templates.render(text, {"code": code}), templates.render(text, {"code": otp.masked(code)})
        segmentation = segment(normalise_body(real))
        if segmentation.part_count > self._settings.max_parts:
            raise MessageTooLong(f"the code's message needs {segmentation.part_count} parts", field="template")
        now, salt, pepper = self._clock(), otp.new_salt(), self._store.box_key.otp_pepper
        expires_at = now + timedelta(seconds=ttl_s)
        [placement] = self._policy.placements([number], None, account).values()
        # it expires with its code; once sent, its parts are masked. The code's record follows its message: a send
        # refused (a quota, a route) leaves no code behind
        drafts = [MessageDraft(
            to_number=number, body=shown, encoding=segmentation.encoding, parts=segmentation.parts,
            masked_parts=segment(shown).parts, delivery_report=self._settings.delivery_report,
            priority=PRIORITIES["high"], expires_at=expires_at, **placement)]
        [message] = self._store.outbox.enqueue(self._policy.priced(drafts, account), now,
                                               api_key_id=api_key.id if api_key else None, account=account)
        record = self._store.otps.add_otp(OtpCode(
            uid=new_uid("otp"), to_number=number, code_hash=otp.code_hash(code, salt, pepper), salt=salt,
            attempts_left=self._settings.otp_max_attempts, expires_at=expires_at,
            api_key_id=api_key.id if api_key else None, created_at=now, message_uid=message.uid))
        self._pool.wake()
        return record, message

    def verify_otp(self, uid: str, code: str) -> Verification:
        """Check `code` against one-time code `uid` (constant time); each wrong code uses an attempt up."""
        if not isinstance(code, str) or not code.strip():
            raise ValidationError("'code' is required", field="code")
        pepper = self._store.box_key.otp_pepper
        return self._store.otps.verify_otp(
            uid, lambda record: otp.matches(code, record.salt, record.code_hash, pepper), self._clock())
