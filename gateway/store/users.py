"""People who log in to the pages (gateway/core/admin_auth.py checks their passwords and roles)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from gateway.errors import UserExists, UserNotFound
from gateway.store.database import Database
from gateway.store.models import User


class Users:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_user(self, username: str, password_hash: str, role: str, now: datetime,
                 account_id: int | None = None) -> User:
        with self._db.write() as s:
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                raise UserExists(f"there is already a user {username!r}", field="username")
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
            user = s.scalars(select(User).where(User.username == username)).one_or_none()
            if user is None:
                raise UserNotFound(f"no user {username!r}", field="username")
            s.delete(user)

    def logged_in(self, username: str, now: datetime) -> None:
        with self._db.write() as s:
            user = s.scalars(select(User).where(User.username == username)).one_or_none()
            if user is not None:
                user.last_login_at = now
