"""People who log in to the pages (gateway/core/admin_auth.py checks their passwords and roles)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gateway.errors import UserExists, UserNotFound, said
from gateway.store.database import Database, once_more_after_a_race
from gateway.store.models import User


class Users:
    def __init__(self, db: Database) -> None:
        self._db = db

    @once_more_after_a_race
    def add_user(self, username: str, password_hash: str, role: str, now: datetime,
                 account_id: int | None = None) -> User:
        with self._db.write() as s:
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                raise UserExists(said("there is already a user %(name)r", name=username), field="username")
            user = User(username=username, password_hash=password_hash, role=role, created_at=now,
                        account_id=account_id)
            s.add(user)
        return user

    def list_users(self) -> list[User]:
        with self._db.read() as s:
            return list(s.scalars(select(User).order_by(User.username)))

    def get_user(self, username: str) -> User | None:
        with self._db.read() as s:
            return s.scalars(select(User).where(User.username == username)).one_or_none()

    def remove_user(self, username: str) -> None:
        with self._db.write() as s:
            s.delete(self._user(s, username))

    def set_password_hash(self, username: str, password_hash: str) -> None:
        with self._db.write() as s:
            self._user(s, username).password_hash = password_hash

    def set_totp(self, username: str, secret: str | None, step: int | None = None) -> None:
        """Turn the user's second login step on (with `secret`, `step` the time step its first code was for) or
        off (None)."""
        with self._db.write() as s:
            user = self._user(s, username)
            user.totp_secret, user.totp_step = secret, step if secret else None

    def take_totp_step(self, username: str, step: int) -> bool:
        """Note that a code for time `step` opened a login: True unless a code for it or a later step did already
        (on any box sharing the database: the update is conditional), which makes a code good for one login."""
        with self._db.write() as s:
            taken = s.execute(update(User).where(User.username == username, User.totp_secret.is_not(None),
                                                 or_(User.totp_step.is_(None), User.totp_step < step))
                              .values(totp_step=step))
            return bool(getattr(taken, "rowcount", 0))

    def logged_in(self, username: str, now: datetime) -> None:
        with self._db.write() as s:
            user = s.scalars(select(User).where(User.username == username)).one_or_none()
            if user is not None:
                user.last_login_at = now

    @staticmethod
    def _user(s: Session, username: str) -> User:
        user = s.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None:
            raise UserNotFound(f"no user {username!r}", field="username")
        return user
