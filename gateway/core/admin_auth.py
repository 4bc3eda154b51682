"""The status page's operator: the admin password (only a scrypt hash is kept), the session secret, and a
light lockout after failed logins."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Mapping

from werkzeug.security import check_password_hash, generate_password_hash

from gateway.clock import utcnow
from gateway.errors import ValidationError

if TYPE_CHECKING:
    from gateway.store import Store

PASSWORD_KEY = "admin_password_hash"
SESSION_SECRET_KEY = "session_secret"
SESSION_EPOCH_KEY = "session_epoch"  # changed by a logout: every session opened before it ends
MIN_PASSWORD_LENGTH = 8
PASSWORD_ENV = "SMSGW_ADMIN_PASSWORD"


class AdminAuth:
    """Checks and sets the admin password; hands out the Flask session secret (made once, kept in the store)."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock

    def set_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationError(f"the admin password needs at least {MIN_PASSWORD_LENGTH} characters",
                                  field="password")
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
