"""Every page's server time on a box with a long history: `--messages` sent messages (to 10,000 numbers, a
fifth of whom answered; three in four counted against one of 3 accounts) and 10,000 contacts, in SQLite or
PostgreSQL. Flask's test client, logged in: server
time without the network. Prints p50/p95 per page and the slowest (issue target: 300 ms).

    .venv/bin/python benchmarks/pages.py [--messages 100000] [--database sqlite|postgresql] [--runs 15] [--language fr]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.core import Databases, percentile  # noqa: E402
from gateway.appliance.runtime import open_store  # noqa: E402
from gateway.clock import utcnow  # noqa: E402
from gateway.config import DatabaseSettings, SecuritySettings, Settings  # noqa: E402
from gateway.core.admin_auth import AdminAuth  # noqa: E402
from gateway.core.service import GatewayService  # noqa: E402
from gateway.store import Store  # noqa: E402
from gateway.store.models import AccountDay, InboxMessage, Message, MessageEvent, Part  # noqa: E402
from gateway.values import InboxState, MessageState, PartState  # noqa: E402
from web import create_app  # noqa: E402

NUMBERS = 10000
CHUNK = 5000
ACCOUNTS = 4  # messages name accounts 1 to 3 (and none, one in four)
PASSWORD = "benchmark password"


def number(i: int) -> str:
    return f"+4479111{i % NUMBERS:05d}"


def seed(store: Store, messages: int) -> float:
    """Bulk-insert the history: each message with its part and two states; every fifth one answered."""
    started = time.monotonic()
    now = utcnow()
    with store.engine.begin() as conn:
        for start in range(1, messages + 1, CHUNK):
            ids = range(start, min(messages + 1, start + CHUNK))
            at = [now - timedelta(minutes=messages - i) for i in ids]
            conn.execute(Message.__table__.insert(), [
                {"id": i, "uid": f"msg_p{i:018x}", "to_number": number(i), "body": f"Your appointment {i}",
                 "encoding": "gsm7", "part_count": 1, "concat_ref": i % 256,
                 "state": MessageState.DELIVERED if i % 50 else MessageState.FAILED, "priority": 1,
                 "delivery_report": True, "attempts": 1, "next_attempt_at": t, "modem": f"modem{i % 4 + 1}",
                 "pinned_modem": None, "report_overdue": False, "created_at": t, "updated_at": t, "sent_at": t,
                 "account_id": i % ACCOUNTS or None, "cost": 1.0}
                for i, t in zip(ids, at)])
            conn.execute(Part.__table__.insert(), [
                {"message_id": i, "seq": 1, "text": f"Your appointment {i}", "state": PartState.DELIVERED,
                 "modem": f"modem{i % 4 + 1}", "reference": i % 256, "sent_at": t} for i, t in zip(ids, at)])
            conn.execute(MessageEvent.__table__.insert(), [
                {"message_id": i, "part_seq": None, "state": state, "modem": "modem1", "at": t}
                for i, t in zip(ids, at) for state in ("queued", "sent")])
            conn.execute(InboxMessage.__table__.insert(), [
                {"uid": f"in_p{i:018x}", "modem": "modem1", "sender": number(i), "recipient": None,
                 "text": f"Thanks, see you ({i})", "part_count": 1, "parts_expected": 1, "state": InboxState.COMPLETE,
                 "sent_at": t, "received_at": t + timedelta(seconds=30), "dedup_key": f"p{i}",
                 "in_reply_to_id": i, "follow_up": False, "read_at": None} for i, t in zip(ids, at) if i % 5 == 0])
    days: Counter[tuple[int, datetime]] = Counter(
        (i % ACCOUNTS, (now - timedelta(minutes=messages - i)).replace(hour=0, minute=0, second=0, microsecond=0))
        for i in range(1, messages + 1) if i % ACCOUNTS)
    with store.engine.begin() as conn:  # what the accounts' messages use, by day (as Outbox.insert counts it)
        conn.execute(AccountDay.__table__.insert(), [
            {"account_id": account_id, "day": day, "parts": n, "cost": float(n)}
            for (account_id, day), n in days.items()])
    if not store.is_sqlite:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval('messages_id_seq', (SELECT max(id) FROM messages))")
            conn.exec_driver_sql("SELECT setval('inbox_id_seq', (SELECT max(id) FROM inbox))")
            conn.exec_driver_sql("ANALYZE")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--language", choices=("en", "fr"), default="en", help="the pages' language (a cookie)")
    args = parser.parse_args()
    databases = Databases(args.database)
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(database=DatabaseSettings(url=databases.new_url(Path(scratch))),
                            security=SecuritySettings(key_file=str(Path(scratch) / "box.key")))
        store = open_store(settings)
        try:
            seconds = seed(store, args.messages)
            service = GatewayService(store, settings.messaging)
            for i in range(1, ACCOUNTS):  # ids 1 to 3, as the messages name them
                service.accounts.add_account(f"dept{i}", per_day=10_000, per_month=100_000, budget=50_000.0)
            group = service.contacts.add_group("Patients")
            started = time.monotonic()
            service.contacts.import_contacts([{"number": number(i), "name": f"Patient {i}", "ward": str(i % 12)}
                                              for i in range(NUMBERS)], ["Patients"])
            print(f"{args.database}: {args.messages} messages seeded in {seconds:.0f} s, {NUMBERS} contacts in "
                  f"{time.monotonic() - started:.1f} s")
            small = service.contacts.add_group("Ward 3")
            service.contacts.add_members(small.uid, [c.uid for c, _ in service.contacts.find_contacts(limit=100)[0]])
            batch, _ = service.batches.send_to_contacts(service.contacts.recipients(small.uid), body="Hello {name}")
            AdminAuth(store).set_password(PASSWORD)
            client = create_app(settings, service).test_client()
            token = re.search(rb'name="csrf_token" value="([^"]+)"', client.get("/login").data)
            assert token
            client.post("/login", data={"password": PASSWORD, "csrf_token": token.group(1).decode()})
            pages = ["/", "/status.json", "/sent", "/sent?status=failed", f"/sent/msg_p{args.messages // 2:018x}",
                     "/conversations", f"/conversations/{quote(number(7), safe='')}", "/contacts",
                     "/contacts?q=Patient 99", f"/contacts?group={group.uid}", "/compose", f"/campaigns/{batch.uid}",
                     "/settings", "/me"]
            if args.language != "en":
                client.set_cookie("smsgw_lang", args.language)
            slowest = ("", 0.0)
            for path in pages:
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    answer = client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                p50, p95 = percentile(times, 50), percentile(times, 95)
                slowest = max(slowest, (path, p95), key=lambda s: s[1])
                print(f"  {path}: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
            print(f"slowest page: {slowest[0]} at p95 {slowest[1]:.0f} ms")
        finally:
            store.close()
            databases.close()


if __name__ == "__main__":
    main()
