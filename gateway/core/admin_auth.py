"""Who may use the pages: the admin password (only a scrypt hash is kept), people with their own passwords and
roles (`users`), the session secret, and a light lockout after failed logins.

Roles: `admin` may do everything the admin password may; `operator` may send, hold conversations and keep the
contacts; `viewer` may look. A session carries the generation it was opened under (the password's, or the
user's: password and role), and ends when that changes or at a logout."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Mapping

from werkzeug.security import check_password_hash, generate_password_hash

from gateway.clock import utcnow
from gateway.errors import ValidationError
from gateway.values import ROLES

if TYPE_CHECKING:
    from gateway.store import Store
    from gateway.store.models import User

PASSWORD_KEY = "admin_password_hash"
SESSION_SECRET_KEY = "session_secret"
SESSION_EPOCH_KEY = "session_epoch"  # changed by a logout: every session opened before it ends
MIN_PASSWORD_LENGTH = 8
PASSWORD_ENV = "SMSGW_ADMIN_PASSWORD"
ADMIN = "admin"  # the admin password's actor name, and the role it has
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class AdminAuth:
    """Checks and sets the admin password; hands out the Flask session secret (made once, kept in the store)."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock

    def set_password(self, password: str) -> None:
        _check_length(password)
        self._store.settings.put(PASSWORD_KEY, generate_password_hash(password, method="scrypt"), self._clock())

    def set_password_if_none(self, password: str) -> bool:
        """Set the password unless one is set already (SMSGW_ADMIN_PASSWORD at start). True when it was set."""
        if self.has_password():
            return False
        self.set_password(password)
        return True

    def has_password(self) -> bool:
        return self._store.settings.get(PASSWORD_KEY) is not None

    def check_password(self, password: str) -> bool:
        stored = self._store.settings.get(PASSWORD_KEY)
        return stored is not None and check_password_hash(stored, password)

    def password_generation(self) -> str | None:
        """Changes whenever the password does or `end_sessions` is called: a session carries the generation it
        was opened under, and ends when it is no longer the current one (the cookie alone proves nothing)."""
        stored = self._store.settings.get(PASSWORD_KEY)
        if not stored:
            return None
        epoch = self._store.settings.get(SESSION_EPOCH_KEY) or ""
        return hashlib.sha256(f"{stored}\n{epoch}".encode()).hexdigest()[:32]

    def end_sessions(self) -> None:
        """End every status-page session, on every box sharing the database (a logout does this)."""
        self._store.settings.put(SESSION_EPOCH_KEY, secrets.token_hex(16), self._clock())

    def session_secret(self) -> str:
        return self._store.settings.add_if_absent(SESSION_SECRET_KEY, secrets.token_hex(32), self._clock())

    # --- people with their own logins -----------------------------------------------------------------------

    def add_user(self, username: str, role: str, password: str, *, account_id: int | None = None) -> User:
        """Add a user who logs in with `password`, in `role`; what they send counts against account `account_id`
        when given."""
        name = username.strip().lower() if isinstance(username, str) else ""
        if not _USERNAME.fullmatch(name) or name == ADMIN:
            raise ValidationError("a username is 1 to 64 letters, digits, '.', '_' or '-' (not \"admin\")",
                                  field="username")
        if role not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}", field="role")
        _check_length(password)
        return self._store.users.add_user(name, generate_password_hash(password, method="scrypt"), role,
                                          self._clock(), account_id)

    def list_users(self) -> list[User]:
        return self._store.users.list_users()

    def remove_user(self, username: str) -> None:
        self._store.users.remove_user(username)

    def check_user(self, username: str, password: str) -> User | None:
        """The user, when `password` is theirs (their last login is noted); None otherwise."""
        user = self._store.users.get_user(username.strip().lower())
        if user is None or not check_password_hash(user.password_hash, password):
            return None
        self._store.users.logged_in(user.username, self._clock())
        return user

    def user_generation(self, username: str) -> str | None:
        """As `password_generation`, for a user's session: it ends when their password or role changes, when
        they are removed, or at a logout."""
        user = self._store.users.get_user(username)
        if user is None:
            return None
        epoch = self._store.settings.get(SESSION_EPOCH_KEY) or ""
        return hashlib.sha256(f"{user.password_hash}\n{user.role}\n{epoch}".encode()).hexdigest()[:32]


def _check_length(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password")


def apply_password_from_env(auth: AdminAuth, environ: Mapping[str, str]) -> bool:
    """SMSGW_ADMIN_PASSWORD sets the admin password at start when none is set yet."""
    password = environ.get(PASSWORD_ENV)
    return auth.set_password_if_none(password) if password else False


class LoginThrottle:
    """After `max_failures` failed logins from one address within `window_s`, refuse it for `lockout_s`. Memory
    is bounded: at most MAX_ADDRESSES addresses each of failures and of lockouts are kept past a prune."""

    MAX_ADDRESSES = 10_000

    def __init__(self, max_failures: int = 5, window_s: float = 300.0, lockout_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after_s(self, address: str) -> float:
        """Seconds this address must wait before trying again (0 when it may try now)."""
        with self._lock:
            return max(0.0, self._locked_until.get(address, 0.0) - self._clock())

    def failed(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            recent = [t for t in self._failures.get(address, []) if now - t < self.window_s] + [now]
            if len(recent) >= self.max_failures:
                self._locked_until[address] = now + self.lockout_s
                recent = []
            self._failures[address] = recent
            if len(self._failures) + len(self._locked_until) > 2 * self.MAX_ADDRESSES:
                self._prune(now)

    @property
    def tracked(self) -> int:
        """Addresses held in memory (failures or lockouts): at most 2 * MAX_ADDRESSES, whatever arrives."""
        with self._lock:
            return len(self._failures) + len(self._locked_until)

    def _prune(self, now: float) -> None:
        """Forget failures past the window and lockouts that ended; then, if a flood of addresses is still
        over the bound, keep the half most recently seen (a flood's old addresses lose their count first)."""
        failures = {a: kept for a, times in self._failures.items()
                    if (kept := [t for t in times if now - t < self.window_s])}
        locked = {a: until for a, until in self._locked_until.items() if until > now}
        keep = self.MAX_ADDRESSES // 2
        if len(failures) > self.MAX_ADDRESSES:
            failures = dict(sorted(failures.items(), key=lambda item: item[1][-1])[-keep:])
        if len(locked) > self.MAX_ADDRESSES:
            locked = dict(sorted(locked.items(), key=lambda item: item[1])[-keep:])
        self._failures, self._locked_until = failures, locked

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
            self._locked_until.pop(address, None)
