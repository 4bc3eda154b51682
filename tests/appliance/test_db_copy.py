"""`smsgw db copy --to postgresql+psycopg://…`: one box's SQLite history into PostgreSQL (for several boxes),
every row read back and compared; the copy opens under the same box key and serves as the original did."""

from __future__ import annotations

import os
import subprocess
import sys

from gateway.clock import utcnow
from gateway.store import Store, key_file_for
from gateway.values import Concat, MessageDraft, ReceivedSms

SMSGW = [sys.executable, "-m", "gateway"]


def test_a_sqlite_box_is_copied_into_postgresql_row_for_row(settings, store, pg_cluster, tmp_path):
    now = utcnow()
    sent, queued = store.outbox.enqueue([MessageDraft(to_number=f"+44791112345{i}", body=f"body {i}", encoding="gsm7",
                                                      parts=(f"body {i}",), delivery_report=True) for i in range(2)],
                                        now)
    job = store.outbox.claim_next("m1", now, 60, submitting=True)
    store.outbox.record_part_sent(job, 1, "m1", 42, now)
    store.inbox.record_received("m1", ReceivedSms("SM", 1, "+447911123459", "a reply", now, None, "00AA"), now)
    store.inbox.record_received("m1", ReceivedSms("SM", 2, "+447911123459", "half ", now, Concat(9, 2, 1), "00AB"),
                                now)
    target = pg_cluster.create_database(schema=False)
    key = tmp_path / "pg" / "box.key"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")},
           "SMSGW_DATABASE_URL": settings.database.url}
    created = subprocess.run([*SMSGW, "keys", "create", "--name", "billing"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert created.returncode == 0, created.stderr
    copied = subprocess.run([*SMSGW, "db", "copy", "--to", target, "--key-file", str(key)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert copied.returncode == 0, copied.stderr
    assert "read back and compared" in copied.stdout and "messages: 2/2" in copied.stdout
    assert key.read_bytes() == key_file_for(settings.database.url).read_bytes()  # the same box key, 0600
    assert key.stat().st_mode & 0o777 == 0o600

    copy = Store.from_url(target, key_file=str(key))
    try:
        assert copy.seal(now) == 0  # opens under the copied key: nothing to reseal
        assert [m.body for m in copy.outbox.list_messages()] == ["body 1", "body 0"]
        assert copy.outbox.get_message(sent.uid).state.value == "sent"
        assert [(m.sender, m.text) for m in copy.inbox.list_inbox()] == [("+447911123459", "a reply")]
        assert [g.received for g in copy.inbox.waiting_parts()] == [(1,)]
        assert [k.name for k in copy.keys.list_keys()] == ["billing"]
        [more] = copy.outbox.enqueue([MessageDraft(to_number="+447911123450", body="after", encoding="gsm7",
                                                   parts=("after",), delivery_report=False)], now)
        assert more.id > queued.id  # PostgreSQL's ids continue after the copied ones
    finally:
        copy.close()
    again = subprocess.run([*SMSGW, "db", "copy", "--to", target, "--key-file", str(key)], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "already holds data" in again.stderr
