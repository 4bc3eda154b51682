"""`smsgw db upgrade` (the CLI, as a subprocess) migrates a database of the first release (revision 0001, the
baseline) holding real rows: nothing is lost and the columns added since have their defaults."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

from sqlalchemy import create_engine, inspect, text

from gateway.config import MessagingSettings
from gateway.core.service import GatewayService
from gateway.rules.apikeys import token_hash
from gateway.store import Store
from gateway.store.migrate import upgrade

T = "2025-03-01 10:00:00.000000"
TOKEN = "smsgw_oldkey_0123456789abcdef"


def build_0001_database(url: str) -> None:
    engine = create_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as db:
        db.execute(text("INSERT INTO api_keys (id, name, prefix, key_hash, scopes, created_at) VALUES "
                        "(1, 'old-app', 'smsgw_oldk', :hash, 'send,read', :t)"), {"hash": token_hash(TOKEN), "t": T})
        db.execute(text(
            "INSERT INTO messages (id, uid, to_number, body, encoding, part_count, concat_ref, state, priority, "
            "delivery_report, attempts, next_attempt_at, modem, api_key_id, created_at, updated_at, sent_at) VALUES "
            "(1, 'msg1', '+447911123456', 'sent before the upgrade', 'gsm7', 1, 7, 'sent', 1, 1, 1, :t, 'modem1', 1, "
            ":t, :t, :t), "
            "(2, 'msg2', '+12025550143', 'still queued', 'gsm7', 2, 8, 'queued', 1, 0, 0, :t, NULL, NULL, :t, :t, NULL)"),
            {"t": T})
        db.execute(text("INSERT INTO parts (id, message_id, seq, text, state, modem, reference, sent_at) VALUES "
                        "(1, 1, 1, 'sent before the upgrade', 'sent', 'modem1', 42, :t), "
                        "(2, 2, 1, 'still ', 'pending', NULL, NULL, NULL), (3, 2, 2, 'queued', 'pending', NULL, NULL, NULL)"),
                   {"t": T})
        db.execute(text("INSERT INTO message_events (message_id, part_seq, state, modem, at) VALUES "
                        "(1, NULL, 'queued', NULL, :t), (1, NULL, 'sent', 'modem1', :t)"), {"t": T})
        db.execute(text("INSERT INTO inbox (id, uid, modem, sender, text, part_count, state, sent_at, received_at, "
                        "dedup_key) VALUES (1, 'in1', 'modem1', '+447911123456', 'STOP', 1, 'complete', :t, :t, 'k1')"),
                   {"t": T})
        db.execute(text("INSERT INTO modems (name, port, state, sent_count, failed_count, received_count, updated_at) "
                        "VALUES ('modem1', '/dev/ttyUSB0', 'online', 1, 0, 1, :t)"), {"t": T})
    engine.dispose()


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from gateway.store.migrate import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def test_smsgw_db_upgrade_keeps_every_row_and_defaults_the_new_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    build_0001_database(url)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    copies = tmp_path / "before"
    upgrade_command = [sys.executable, "-m", "gateway", "db", "upgrade", "--config", str(config), "--backup-to",
                       str(copies)]
    result = subprocess.run(upgrade_command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "is at the latest schema" in result.stdout
    [copy] = copies.glob("*.sqlite")  # the database as it was, for a rollback
    assert copy.name == "old-0001.sqlite" and f"copied the database to {copy}" in result.stdout
    assert copy.stat().st_mode & 0o777 == 0o600
    assert not copy.with_name(copy.name + ".key").exists()  # 0001 had no box key: this upgrade makes it
    with create_engine(f"sqlite:///{copy}").connect() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
        assert db.execute(text("SELECT count(*) FROM messages")).scalar() == 2
    again = subprocess.run(upgrade_command, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "copied" not in again.stdout  # at the latest schema: nothing to keep

    engine = create_engine(url)
    with engine.connect() as db:
        assert db.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        assert "report_overdue" in {c["name"] for c in inspect(db).get_columns("messages")}
        # batch migrations recreate `messages`: its children (ON DELETE CASCADE) must survive that
        assert {t: db.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("messages", "parts", "message_events", "inbox", "api_keys", "modems")} == {
            "messages": 2, "parts": 3, "message_events": 2, "inbox": 1, "api_keys": 1, "modems": 1}
        assert db.execute(text("PRAGMA foreign_key_check")).fetchall() == []
    engine.dispose()

    store = Store.from_url(url)
    try:
        service = GatewayService(store, MessagingSettings())
        sent, queued = service.messages.get_message("msg1"), service.messages.get_message("msg2")
        assert (sent.state.value, sent.body, sent.modem, sent.part_count) == ("sent", "sent before the upgrade",
                                                                              "modem1", 1)
        assert sent.parts[0].reference == 42 and sent.sent_at == datetime(2025, 3, 1, 10, tzinfo=timezone.utc)
        assert [p.text for p in queued.parts] == ["still ", "queued"] and queued.state.value == "queued"
        assert sent.report_overdue is False and sent.status_callback is None  # 0003's new columns
        [item] = service.messages.list_inbox()[0]
        assert (item.sender, item.text, item.in_reply_to) == ("+447911123456", "STOP", None)
        assert service.keys.authenticate(TOKEN, "send").name == "old-app"  # the old key still works
        [modem] = service.modems.list_modems()
        assert (modem.sent_count, modem.own_number, modem.balance, modem.box) == (1, None, None, None)
        assert service.receivers.list_webhooks() == []  # 0003's new tables exist, empty
    finally:
        store.close()
