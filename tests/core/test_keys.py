"""API keys: expiry, rotation with an overlap (two keys valid during a change-over), and no key in any log."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from gateway.core.service import GatewayService
from gateway.errors import AuthError, ValidationError
from gateway.rules.apikeys import parse_duration, token_hash
from tests.clock import at


class Clock:
    def __init__(self) -> None:
        self.now = at(11, 26, 12, 0, 0)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def keyed(store, settings, clock) -> GatewayService:
    return GatewayService(store, settings.messaging, clock=clock)


def test_durations():
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration(" 90m") == timedelta(minutes=90)
    for bad in ("", "30", "d", "1.5h", "-1d", "30y"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_a_key_with_an_expiry_is_refused_from_then_on(keyed, clock):
    key, token = keyed.keys.create_key("temp", ["send"], expires_in=timedelta(days=30))
    assert key.expires_at == clock.now + timedelta(days=30)
    assert keyed.keys.authenticate(token, "send").id == key.id
    clock.now += timedelta(days=30)
    with pytest.raises(AuthError, match="expired"):
        keyed.keys.authenticate(token, "send")
    with pytest.raises(ValidationError):
        keyed.keys.create_key("never", ["send"], expires_in=timedelta(0))


def test_rotation_keeps_both_keys_valid_during_the_overlap(keyed, clock):
    old, old_token = keyed.keys.create_key("billing", ["send", "read"])
    new, new_token = keyed.keys.rotate_key(old.id, overlap=timedelta(hours=24))
    assert (new.name, new.scopes) == ("billing", "send,read") and new.id != old.id and new_token != old_token
    clock.now += timedelta(hours=23)
    assert keyed.keys.authenticate(old_token, "read").id == old.id
    assert keyed.keys.authenticate(new_token, "read").id == new.id
    clock.now += timedelta(hours=1)
    with pytest.raises(AuthError):
        keyed.keys.authenticate(old_token, "read")
    assert keyed.keys.authenticate(new_token, "send").id == new.id
    with pytest.raises(ValidationError):  # an expired key is not rotated again
        keyed.keys.rotate_key(old.id)


def test_rotation_without_overlap_revokes_the_old_key_at_once(keyed):
    old, old_token = keyed.keys.create_key("ops", ["admin"])
    new, new_token = keyed.keys.rotate_key(old.id)
    with pytest.raises(AuthError, match="revoked"):
        keyed.keys.authenticate(old_token, "admin")
    assert keyed.keys.authenticate(new_token, "admin").id == new.id


def test_a_rotation_overlap_cannot_extend_an_earlier_expiry(keyed, clock):
    old, _ = keyed.keys.create_key("short", ["send"], expires_in=timedelta(hours=1))
    keyed.keys.rotate_key(old.id, overlap=timedelta(days=7))
    assert next(k for k in keyed.keys.list_keys() if k.id == old.id).expires_at == clock.now + timedelta(hours=1)


def test_keys_never_appear_in_logs(client, service, caplog):
    key, token = service.keys.create_key("secret-holder", ["send", "read", "admin"])
    wrong = token[:-4] + "AAAA"
    caplog.set_level(logging.DEBUG)
    for presented in (token, wrong, "smsgw_" + "x" * 43, ""):
        for headers in ({"Authorization": f"Bearer {presented}"}, {"X-API-Key": presented}):
            client.get("/api/v1/messages", headers=headers)
            client.post("/api/v1/messages", headers=headers, json={"to": "+447911123456", "body": "x"})
    service.keys.rotate_key(key.id, overlap=timedelta(hours=1))
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    # whatever was logged (the web layer, the service, the store), none of it is a key or its hash
    for secret in (token, wrong, token_hash(token), token[10:]):
        assert secret not in text


def test_cli_creates_expiring_keys_and_rotates(tmp_path):
    env = {**os.environ, "SMSGW_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "gateway", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    created = run("keys", "create", "--name", "billing", "--scopes", "send", "--expires-in", "30d")
    assert created.returncode == 0, created.stderr
    assert "valid until" in created.stdout
    rotated = run("keys", "rotate", "1", "--overlap", "24h")
    assert rotated.returncode == 0, rotated.stderr
    new_token = rotated.stdout.strip().splitlines()[-1]
    assert new_token.startswith("smsgw_") and new_token not in created.stdout
    listing = run("keys", "list").stdout
    assert listing.count("billing") == 2 and "expires" in listing and "active" in listing
    assert run("keys", "create", "--name", "x", "--expires-in", "soon").returncode == 2


def test_a_key_revoked_here_stops_at_once_and_one_revoked_elsewhere_within_a_second(keyed, store, settings, clock):
    from gateway.core.access import KEY_READ_TTL_S

    here, here_token = keyed.keys.create_key("here", ["send"])
    there, there_token = keyed.keys.create_key("there", ["send"])
    keyed.keys.authenticate(here_token, "send")
    keyed.keys.authenticate(there_token, "send")  # both read, and kept for a moment
    keyed.keys.revoke_key(here.id)
    with pytest.raises(AuthError, match="revoked"):
        keyed.keys.authenticate(here_token, "send")
    GatewayService(store, settings.messaging, clock=clock).keys.revoke_key(there.id)  # the CLI, another box
    deadline = time.monotonic() + KEY_READ_TTL_S
    with pytest.raises(AuthError, match="revoked"):
        while time.monotonic() < deadline + 0.2:
            keyed.keys.authenticate(there_token, "send")
    assert time.monotonic() < deadline + 0.2
