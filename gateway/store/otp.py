"""One-time codes: their hashed records and the attempts to verify them."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import select

from gateway.errors import OtpNotFound
from gateway.store.database import Database
from gateway.store.models import OtpCode
from gateway.values import Verification


class Otps:
    """Verbs on one-time codes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_otp(self, otp: OtpCode) -> OtpCode:
        with self._db.write() as s:
            s.add(otp)
        return otp

    def verify_otp(self, uid: str, matches: Callable[[OtpCode], bool], now: datetime) -> Verification:
        """One attempt at OTP `uid`, under a row lock: a wrong code uses an attempt up; a right one uses the
        code up (verified once only); an expired code or one out of attempts never verifies."""
        with self._db.write() as s:
            otp = s.scalars(select(OtpCode).where(OtpCode.uid == uid).with_for_update()).one_or_none()
            if otp is None:
                raise OtpNotFound(f"no one-time code {uid}", field="id")
            if otp.verified_at is not None or otp.attempts_left <= 0:
                return Verification(False, 0)
            if otp.expires_at <= now:
                return Verification(False, otp.attempts_left, expired=True)
            if matches(otp):
                otp.verified_at, otp.attempts_left = now, 0
                return Verification(True, 0)
            otp.attempts_left -= 1
            return Verification(False, otp.attempts_left)
