"""Twilio accounts over API keys. An API key's account SID is "AC" + the first 32 hex digits of SHA-256(token)
(its stored hash); the account's auth token is derived from the gateway's callback secret, so the webhook worker
can sign the account's callbacks with it (X-Twilio-Signature), and clients may give it as the password."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from gateway.errors import AuthError
from gateway.rules import apikeys

if TYPE_CHECKING:  # read by attribute: the door's callbacks need no database to be imported
    from gateway.core.service import GatewayService
    from gateway.store.models import ApiKey


def account_sid(key_hash: str) -> str:
    """A key's account SID ("AC" + 32 hex digits): the first half of its token's SHA-256."""
    return "AC" + key_hash[:32]


def sid_of_token(token: str) -> str:
    """The account SID of the API key whose token is `token` (what a client needs to configure an SDK)."""
    return account_sid(apikeys.token_hash(token))


def auth_token(callback_secret: str, sid: str) -> str:
    """The auth token (32 hex digits) of account `sid`, derived from the gateway's callback secret."""
    return hmac.new(callback_secret.encode(), f"twilio-auth-token:{sid}".encode(), hashlib.sha256).hexdigest()[:32]


def authenticate(service: GatewayService, sid: str | None, secret: str | None, scope: str) -> ApiKey:
    """The key of account `sid`, whose `secret` is either the key's token or the account's auth token; AuthError
    (401) or ScopeError (403) otherwise."""
    if not sid or not secret:
        raise AuthError("an account SID and an auth token are required (HTTP Basic)")
    if secret.startswith(apikeys.TOKEN_PREFIX):
        key = service.keys.authenticate(secret, scope)
        if account_sid(key.key_hash) != sid:
            raise AuthError("the account SID is not the API key's")
        return key
    account_key = service.keys.live_key(lambda key: account_sid(key.key_hash) == sid)
    if account_key is None or not hmac.compare_digest(auth_token(service.receivers.callback_secret(), sid), secret):
        raise AuthError("the account SID or auth token is unknown or revoked")
    service.keys.require_scope(account_key, scope)
    return account_key
