"""Who may use the pages: the admin password (only a scrypt hash is kept), people with their own passwords and
roles (`users`), the session secret, and a light lockout after failed logins.

Roles: `admin` may do everything the admin password may; `operator` may send, hold conversations and keep the
contacts; `viewer` may look. A user may add a second login step: a six-digit code from an authenticator app
(TOTP, RFC 6238: 30 s steps, the step before and after accepted too), each code good for one login.

A session carries the generation it was opened under (the password's, or the user's: password, role and second
step), and ends when that changes or at a logout."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Mapping

import pyotp
from werkzeug.security import check_password_hash, generate_password_hash

from gateway.clock import utcnow
from gateway.errors import ValidationError, said
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
_CODE = re.compile(r"[0-9]{6}")
TOTP_ISSUER = "smsgw"
TOTP_DRIFT_STEPS = 1  # codes of the step before and after are good too: a phone's clock a little off, slow typing


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
            raise ValidationError(said("a username is 1 to 64 letters, digits, '.', '_' or '-' (not \"admin\")"),
                                  field="username")
        if role not in ROLES:
            raise ValidationError(said("role must be one of %(roles)s", roles=", ".join(ROLES)), field="role")
        _check_length(password)
        return self._store.users.add_user(name, generate_password_hash(password, method="scrypt"), role,
                                          self._clock(), account_id)

    def user(self, username: str) -> User | None:
        return self._store.users.get_user(username)

    def list_users(self) -> list[User]:
        return self._store.users.list_users()

    def remove_user(self, username: str) -> None:
        self._store.users.remove_user(username)

    def check_user(self, username: str, password: str) -> User | None:
        """The user, when `password` is theirs; None otherwise. One with a second step (`totp_secret`) has not
        logged in until `check_code` accepts their code too."""
        user = self._store.users.get_user(username.strip().lower())
        if user is None or not check_password_hash(user.password_hash, password):
            return None
        return user

    def note_login(self, username: str) -> None:
        self._store.users.logged_in(username, self._clock())

    def change_password(self, username: str, current: str, new: str) -> None:
        """A user's own change: `current` must be their password (ValidationError on field `current`)."""
        if self.check_user(username, current) is None:
            raise ValidationError("that is not your current password", field="current")
        _check_length(new)
        self._store.users.set_password_hash(username, generate_password_hash(new, method="scrypt"))

    # --- the second login step ------------------------------------------------------------------------------

    @staticmethod
    def new_totp_secret() -> str:
        """A fresh secret (160 bits, base32) to show the user; kept only once `turn_on_totp` accepts a code."""
        return pyotp.random_base32(32)

    @staticmethod
    def totp_uri(username: str, secret: str, box: str) -> str:
        """The otpauth:// address an authenticator app reads from a QR code."""
        return pyotp.TOTP(secret).provisioning_uri(name=f"{username}@{box}", issuer_name=TOTP_ISSUER)

    def turn_on_totp(self, username: str, secret: str, code: str) -> None:
        """Keep `secret` as the user's second step, once `code` shows their app holds it (ValidationError on
        field `code` otherwise). Their sessions end: the page opens a new one."""
        step = self._step_of(secret, code)
        if step is None:
            raise ValidationError("that code does not match: check that the phone's clock is right and type the "
                                  "code the app shows now", field="code")
        self._store.users.set_totp(username, secret, step)

    def turn_off_totp(self, username: str) -> None:
        """The password alone opens the user's logins again (an admin does this for someone who lost their
        phone); their sessions end."""
        self._store.users.set_totp(username, None)

    def check_code(self, username: str, code: str) -> User | None:
        """The user, when `code` is their current one and no login has used it (or a later one) yet; None
        otherwise."""
        user = self._store.users.get_user(username)
        if user is None or not user.totp_secret:
            return None
        step = self._step_of(user.totp_secret, code)
        return user if step is not None and self._store.users.take_totp_step(username, step) else None

    def _step_of(self, secret: str, code: str) -> int | None:
        """The time step, within the drift allowed of now, whose code `code` is; None when none."""
        code = "".join(code.split()) if isinstance(code, str) else ""
        if not _CODE.fullmatch(code):
            return None
        totp = pyotp.TOTP(secret)
        now = totp.timecode(self._clock().timestamp())
        for step in range(now - TOTP_DRIFT_STEPS, now + TOTP_DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    def user_generation(self, username: str) -> str | None:
        """As `password_generation`, for a user's session: it ends when their password, role or second step
        changes, when they are removed, or at a logout."""
        user = self._store.users.get_user(username)
        if user is None:
            return None
        epoch = self._store.settings.get(SESSION_EPOCH_KEY) or ""
        held = f"{user.password_hash}\n{user.role}\n{user.totp_secret or ''}\n{epoch}"
        return hashlib.sha256(held.encode()).hexdigest()[:32]


def _check_length(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(said("a password needs at least %(n)d characters", n=MIN_PASSWORD_LENGTH),
                              field="password")


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
