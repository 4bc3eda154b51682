"""The box key: secrets in the database are sealed under a key file outside it, a wrong key is refused in one
line, values from before sealing are sealed at start, and `smsgw key rotate` moves everything to a new key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.appliance.runtime import open_store
from gateway.clock import utcnow
from gateway.config import SecuritySettings
from gateway.core.service import GatewayService
from gateway.errors import BoxKeyUnusable
from gateway.rules import otp
from gateway.store import KEY_CHECK, Store, key_file_for, sealing_scheme
from gateway.store.sealing import PREFIX, BoxKey, KeyMismatch
from gateway.values import ReceivedSms
from tests.clock import NOON

ROOT = Path(__file__).resolve().parents[2]


def raw(store: Store, sql: str) -> list[str]:
    """What a copy of the database shows without the key."""
    with store.engine.connect() as conn:
        return list(conn.execute(text(sql)).scalars())


def raw_rows(store: Store, sql: str) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def test_the_key_file_is_private_and_made_once(tmp_path):
    path = tmp_path / "keys" / "box.key"
    first = BoxKey.load_or_create(path)
    assert first.created and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = BoxKey.load_or_create(path)
    assert not again.created and again.id == first.id
    assert again.open(first.seal("whsec_x")) == "whsec_x"


def test_where_the_key_file_is():
    assert key_file_for("sqlite:////var/lib/smsgw/smsgw.db") == Path("/var/lib/smsgw/smsgw.db.key")
    assert key_file_for("sqlite:///x.db", "/etc/smsgw/box.key") == Path("/etc/smsgw/box.key")
    assert key_file_for("sqlite://") is None and key_file_for("sqlite:///:memory:") is None  # lives with the process
    for url in ("postgresql+psycopg://db.lan/smsgw", "sqlite:///file:/data/smsgw.db?mode=rwc&uri=true"):
        with pytest.raises(BoxKeyUnusable, match="key_file must name"):  # never a key that dies with the process
            key_file_for(url)


def test_a_key_file_that_is_not_one_is_refused_in_one_line(tmp_path):
    path = tmp_path / "box.key"
    path.write_text("deadbeef bm90IGEga2V5\n")
    with pytest.raises(BoxKeyUnusable, match=r"box.key:1: not a box key line"):
        BoxKey.load_or_create(path)


@pytest.mark.both_databases
def test_secrets_are_sealed_in_the_database(service, store):
    webhook = service.receivers.add_webhook("http://127.0.0.1:9/hook", ["message.received"])
    secrets = [webhook.secret, service.receivers.callback_secret(), service.admin.session_secret()]
    stored = raw(store, "SELECT secret FROM webhooks") + raw(store, "SELECT value FROM admin_settings")
    assert stored and all(value.startswith(PREFIX + store.box_key.id) for value in stored)
    assert not any(secret in value for secret in secrets for value in stored)
    assert service.receivers.list_webhooks()[0].secret == webhook.secret  # and open again with the key


@pytest.mark.both_databases
def test_another_key_is_refused_and_the_key_file_it_made_is_removed(settings, store, tmp_path):
    store.settings.put("session_secret", "s" * 64, NOON)
    wrong = tmp_path / "elsewhere" / "box.key"
    with pytest.raises(KeyMismatch, match=rf"sealed under box key {store.box_key.id}, and the key file {wrong}"):
        open_store(settings.replace(security=SecuritySettings(key_file=str(wrong))))
    assert not wrong.exists()  # restoring the right key file is all it takes
    assert open_store(settings).settings.get("session_secret") == "s" * 64


def test_values_from_before_sealing_are_sealed_at_start(settings, store):
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM admin_settings"))
        conn.execute(text("INSERT INTO admin_settings (key, value, updated_at) "
                          "VALUES ('callback_secret', 'cbsec_plain', '2026-01-01 00:00:00')"))
    reopened = open_store(settings)
    assert raw(reopened, "SELECT value FROM admin_settings WHERE key = 'callback_secret'")[0].startswith(PREFIX)
    assert reopened.settings.get("callback_secret") == "cbsec_plain"
    assert reopened.settings.get(KEY_CHECK) == sealing_scheme()


def test_a_rotation_cut_short_is_finished_at_the_next_start(settings, store):
    store.settings.put("callback_secret", "cbsec_kept", NOON)
    old = store.box_key
    both = old.rotated()
    both.save()  # `smsgw key rotate` died after writing the key file
    reopened = open_store(settings)
    assert reopened.box_key.id == both.id
    assert {v[len(PREFIX):len(PREFIX) + 8] for v in raw(reopened, "SELECT value FROM admin_settings")} == {both.id}
    assert reopened.settings.get("callback_secret") == "cbsec_kept"


def test_smsgw_key_rotate_moves_every_sealed_value_to_a_new_key(settings, store, service):
    webhook = service.receivers.add_webhook("http://127.0.0.1:9/hook", ["message.received"])
    old_id, path = store.box_key.id, store.box_key.path
    store.close()
    env = {**os.environ, "SMSGW_DATABASE_URL": settings.database.url}
    done = subprocess.run([sys.executable, "-m", "gateway", "key", "rotate"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert f"replaces {old_id} in {path}" in done.stdout
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 1 and not lines[0].startswith(old_id) and stat.S_IMODE(path.stat().st_mode) == 0o600
    rotated = open_store(settings)
    new_id = rotated.box_key.id
    assert all(v.startswith(PREFIX + new_id) for v in raw(rotated, "SELECT secret FROM webhooks"))
    assert GatewayService(rotated, settings.messaging).receivers.list_webhooks()[0].secret == webhook.secret


def test_one_time_codes_are_hashed_under_the_box_key(service, store):
    record, _ = service.otp.send_otp("+447911123456")
    [part] = store.outbox.get_message(record.message_uid).parts
    code = "".join(ch for ch in part.text if ch.isdigit())
    [(salt, code_hash)] = raw_rows(store, "SELECT salt, code_hash FROM otp_codes")
    assert code_hash == otp.code_hash(code, salt, store.box_key.otp_pepper)
    assert code_hash != otp.code_hash(code, salt, BoxKey.ephemeral().otp_pepper)  # the database alone: no test
    assert service.otp.verify_otp(record.uid, code).verified


def database_bytes(store: Store, url: str) -> bytes:
    """The SQLite file as a copied disk holds it (the WAL folded in first)."""
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return Path(url.removeprefix("sqlite:///")).read_bytes()


def test_a_copied_database_reveals_no_body_and_no_number(settings, store, service, client, auth):
    service.receivers.add_webhook("http://127.0.0.1:9/hook", ["message.sent", "message.received"])
    answer = client.post("/api/v1/messages", json={"to": ["+447911123456"], "body": "meet at the clinic at nine"},
                         headers={**auth, "Idempotency-Key": "order-1"})
    assert answer.status_code == 202, answer.get_json()
    now = utcnow()  # the service's clock took the message
    job = store.outbox.claim_next("m1", now, 60)
    store.outbox.record_part_sent(job, 1, "m1", 7, now)
    store.inbox.record_received("m1", ReceivedSms("SM", 1, "+447911123456", "see you there", NOON, None, "01"), NOON)
    store.inbox.record_received("m1", ReceivedSms("SM", 2, "+447911654321", "STOP", NOON, None, "02"), NOON)
    service.otp.send_otp("+447922333444")
    assert client.get("/api/v1/inbox", headers=auth).get_json()["messages"][0]["text"] in ("see you there", "STOP")
    copied = database_bytes(store, settings.database.url)
    for plain in ("7911123456", "7911654321", "7922333444", "meet at the clinic", "see you there"):
        assert plain.encode() not in copied, plain
    suppressions, _ = service.consent.list_optouts()  # and the box, with its key, still finds them
    assert [s.number for s in suppressions] == ["+447911654321"]
    with pytest.raises(Exception, match="opted out"):
        service.consent.refuse_opted_out(["+447911654321"], "marketing")
