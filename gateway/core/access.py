"""Who may call the API: API keys (create, rotate, revoke, expire), authentication and per-key request rates."""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta
from typing import Callable, Sequence

from gateway.config import MessagingSettings
from gateway.errors import AuthError, ScopeError, ValidationError
from gateway.rules import apikeys
from gateway.rules.ratelimit import RateLimited, request_window
from gateway.store import Store
from gateway.store.models import ApiKey

log = logging.getLogger(__name__)

KEY_TOUCH_INTERVAL = timedelta(seconds=60)
KEY_READ_TTL_S = 1.0  # an API key read for a request serves the next ones this long (a revocation elsewhere waits)


class Access:
    """Verbs on API keys and on the requests they make."""

    def __init__(self, store: Store, settings: MessagingSettings, clock: Callable[[], datetime]) -> None:
        self._store, self._settings, self._clock = store, settings, clock
        self._recent_keys: apikeys.RecentKeys[ApiKey] = apikeys.RecentKeys(KEY_READ_TTL_S)

    def create_key(self, name: str, scopes: Sequence[str], *, expires_in: timedelta | None = None,
                   account_id: int | None = None) -> tuple[ApiKey, str]:
        """Create a key (refused after `expires_in`, when given; its sends counted against account `account_id`
        when given); the token is returned once and only its hash is kept."""
        name = name.strip()
        if not name or len(name) > 64:
            raise ValidationError("a key needs a name of 1 to 64 characters", field="name")
        unknown = sorted(set(scopes) - set(apikeys.SCOPES))
        if unknown or not scopes:
            raise ValidationError(f"scopes must be among {', '.join(apikeys.SCOPES)}", field="scopes")
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValidationError("an expiry must lie in the future", field="expires_in")
        token = apikeys.new_token()
        now = self._clock()
        key = self._store.keys.add_key(name, apikeys.display_prefix(token), apikeys.token_hash(token),
                                      [s for s in apikeys.SCOPES if s in scopes], now,
                                      expires_at=None if expires_in is None else now + expires_in,
                                      account_id=account_id)
        return key, token

    def rotate_key(self, key_id: int, *, overlap: timedelta = timedelta(0),
                   expires_in: timedelta | None = None) -> tuple[ApiKey, str]:
        """A new key with the old one's name, scopes and account; the old one keeps working for `overlap` (both are
        valid during the change-over), then is refused. No overlap: the old one is revoked at once."""
        if overlap < timedelta(0):
            raise ValidationError("the overlap cannot be negative", field="overlap")
        old = self._store.keys.get_key(key_id)
        now = self._clock()
        if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
            raise ValidationError(f"API key {key_id} is revoked or expired: create a new one", field="id")
        key, token = self.create_key(old.name, old.scopes.split(","), expires_in=expires_in,
                                     account_id=old.account_id)
        if overlap:
            self._store.keys.expire_key(old.id, now + overlap)
        else:
            self._store.keys.revoke_key(old.id, now)
        self._recent_keys.forget_all()
        return key, token

    def list_keys(self) -> list[ApiKey]:
        return self._store.keys.list_keys()

    def revoke_key(self, key_id: int) -> ApiKey:
        key = self._store.keys.revoke_key(key_id, self._clock())
        self._recent_keys.forget_all()
        return key

    def authenticate(self, token: str | None, scope: str) -> ApiKey:
        """The active key for `token` holding `scope`, or AuthError (401) / ScopeError (403)."""
        if not token:
            raise AuthError("an API key is required (Authorization: Bearer KEY or X-API-Key)")
        # The lookup is by SHA-256 of the token, so a timing difference in the index comparison can only
        # tell an attacker about the hash of what they sent, never about a stored token (finding a token
        # whose hash shares a prefix with a stored one is a preimage search). compare_digest on the hash
        # keeps the final equality check constant-time as well.
        digest = apikeys.token_hash(token)
        key = self._recent_keys.get(digest)
        if key is None:
            key = self._store.keys.find_key(digest)
            if key is not None:
                self._recent_keys.put(digest, key)
        if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at is not None:
            raise AuthError("the API key is unknown or revoked")
        now = self._clock()
        if key.expires_at is not None and key.expires_at <= now:
            raise AuthError("the API key has expired")
        self.require_scope(key, scope)
        if key.last_used_at is None or now - key.last_used_at > KEY_TOUCH_INTERVAL:
            self._store.keys.touch_key(key.id, now)
            key.last_used_at = now  # the key as read serves the next requests for a moment
        return key

    def authenticate_pair(self, username: str | None, password: str | None, scope: str) -> ApiKey:
        """For doors whose clients send a user name and a password (Kannel, SOAP, SMS Gateway for Android):
        the user name is the key's name and the password is the key's token."""
        key = self.authenticate(password, scope)
        if username is None or not hmac.compare_digest(username.encode(), key.name.encode()):
            raise AuthError("the user name is not the name of the API key given as the password")
        return key

    def live_key(self, matches: Callable[[ApiKey], bool]) -> ApiKey | None:
        """The first key (by id) that `matches` accepts and that is neither revoked nor expired: for doors whose
        clients name a key by something derived from it (an account id)."""
        now = self._clock()
        return next((key for key in self._store.keys.list_keys() if key.revoked_at is None
                     and (key.expires_at is None or key.expires_at > now) and matches(key)), None)

    @staticmethod
    def require_scope(key: ApiKey, scope: str) -> None:
        """ScopeError (403) unless `key` holds `scope` (or admin)."""
        if scope not in key.scopes.split(",") and "admin" not in key.scopes.split(","):
            raise ScopeError(f"the API key lacks the '{scope}' scope")

    def check_request_rate(self, key: ApiKey) -> None:
        """Count one request of `key` in this minute's window; RateLimited (429) past the configured limit."""
        limit = self._settings.api_requests_per_minute
        if limit <= 0:
            return
        window, retry_after_s = request_window(self._clock())
        if self._store.request_counts.count_request(key.id, window) > limit:
            raise RateLimited(f"API key {key.name!r} made more than {limit} requests this minute; "
                              f"try again in {retry_after_s} s", retry_after_s)

    def forget_request_counts(self) -> int:
        return self._store.request_counts.forget_request_counts(self._clock())
