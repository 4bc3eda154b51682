"""`smsgw backup` and `smsgw restore`: a box's database and box key in one file, onto a fresh box that then sends
what was queued; on SQLite (online backup API) and PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest

from gateway.clock import utcnow
from gateway.config import DatabaseSettings, ModemSettings, SecuritySettings
from gateway.values import MessageDraft, MessageState
from tests.conftest import wait_until

pytestmark = pytest.mark.both_databases
PASSPHRASE = "correct horse battery staple"
SMSGW = [sys.executable, "-m", "gateway"]


def smsgw(*args, url: str, key_file: str, passphrase: str = PASSPHRASE):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")},
           "SMSGW_DATABASE_URL": url, "SMSGW_KEY_FILE": key_file, "SMSGW_BACKUP_PASSPHRASE": passphrase}
    return subprocess.run([*SMSGW, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def fresh_box(request, tmp_path, database_url):
    """Where a restored box keeps its database and key: a new SQLite path, or a new empty PostgreSQL database."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored' / 'smsgw.db'}", str(tmp_path / "restored" / "smsgw.db.key")
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database(schema=False)
    request.addfinalizer(lambda: cluster.drop_database(url))
    return url, str(tmp_path / "restored" / "box.key")


def test_a_backup_restored_on_a_fresh_box_sends_what_was_queued(settings, store, tmp_path, fresh_box,
                                                                  modem_links):
    from gateway.appliance.runtime import Gateway
    from gateway.store import key_file_for

    queued = store.outbox.enqueue([MessageDraft(to_number="+447911123456", body=f"queued {n}", encoding="gsm7",
                                                parts=(f"queued {n}",), delivery_report=False) for n in range(3)],
                                  utcnow())  # the restored box runs on the wall clock: due at once
    key_file = str(key_file_for(settings.database.url, settings.security.key_file))
    made = smsgw("backup", str(tmp_path / "box.backup"), url=settings.database.url, key_file=key_file)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "box.backup").stat().st_mode & 0o777 == 0o600
    with tarfile.open(tmp_path / "box.backup") as archive:
        names = archive.getnames()
        sealed_key = archive.extractfile("box-key.json").read()
    assert names[0] == "manifest.json" and "box-key.json" in names
    assert open(key_file, "rb").read().split()[1] not in sealed_key  # the key itself is not in the clear

    url, new_key = fresh_box
    wrong = smsgw("restore", str(tmp_path / "box.backup"), url=url, key_file=new_key, passphrase="not the one")
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not os.path.exists(new_key)
    restored = smsgw("restore", str(tmp_path / "box.backup"), url=url, key_file=new_key)
    assert restored.returncode == 0, restored.stderr
    assert "queued 3" in restored.stdout
    again = smsgw("restore", str(tmp_path / "box.backup"), url=url, key_file=new_key)
    assert again.returncode == 2 and "already exists" in again.stderr  # never over a box

    [fake] = modem_links(1)
    box = settings.replace(database=DatabaseSettings(url=url), security=SecuritySettings(key_file=new_key),
                           modems=(ModemSettings(name="modem1", port=fake.link),))
    gateway = Gateway(box).start()
    try:
        wait_until(lambda: sorted(s.text for s in fake.sent) == ["queued 0", "queued 1", "queued 2"], timeout_s=20)
        wait_until(lambda: {gateway.store.outbox.get_message(m.uid).state for m in queued} == {MessageState.SENT})
    finally:
        gateway.stop()


def test_a_backup_needs_a_passphrase_worth_the_name(settings, store, tmp_path):
    from gateway.store import key_file_for

    key_file = str(key_file_for(settings.database.url, settings.security.key_file))
    short = smsgw("backup", str(tmp_path / "b"), url=settings.database.url, key_file=key_file, passphrase="short")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()
