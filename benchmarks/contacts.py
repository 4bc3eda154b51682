"""Contacts at a school's or a clinic's scale: a CSV of `--contacts` rows imported through the contacts page
(upload, then the mapping step, as a person does it), then the server time of the pages and API calls that read
them, with the whole book in the database (Flask's test client: server time, no network).

    .venv/bin/python benchmarks/contacts.py [--contacts 10000] [--database sqlite|postgresql] [--runs 20]
"""

from __future__ import annotations

import argparse
import html
import io
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.core import Databases, percentile  # noqa: E402
from gateway.appliance.runtime import open_store  # noqa: E402
from gateway.config import DatabaseSettings, SecuritySettings, Settings  # noqa: E402
from gateway.core.admin_auth import AdminAuth  # noqa: E402
from gateway.core.service import GatewayService  # noqa: E402
from gateway.rules.apikeys import SCOPES  # noqa: E402
from web import create_app  # noqa: E402

PASSWORD = "benchmark password"


def class_list(contacts: int) -> bytes:
    lines = ["Parent,Mobile,Child,Class"]
    lines += [f"Parent {n},+4479112{n:05d},Child {n},{n % 30}" for n in range(contacts)]
    return ("\n".join(lines) + "\n").encode()


def csrf(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    databases = Databases(args.database)
    with tempfile.TemporaryDirectory() as scratch:
        url = databases.new_url(Path(scratch))
        settings = Settings(database=DatabaseSettings(url=url),
                            security=SecuritySettings(key_file=str(Path(scratch) / "box.key")))
        store = open_store(settings)
        try:
            service = GatewayService(store, settings.messaging)
            AdminAuth(store).set_password(PASSWORD)
            service.contacts.add_group("School")
            client = create_app(settings, service).test_client()
            login = client.get("/login")
            client.post("/login", data={"password": PASSWORD, "csrf_token": csrf(login.data)})
            token = csrf(client.get("/contacts").data)

            started = time.monotonic()
            mapping = client.post("/contacts/import", data={"csrf_token": token, "file": (
                io.BytesIO(class_list(args.contacts)), "class.csv")}, content_type="multipart/form-data")
            assert mapping.status_code == 200, mapping.data[:500]
            csv_text = re.search(rb'<textarea name="csv" hidden>(.*?)</textarea>', mapping.data, re.S)
            assert csv_text
            done = client.post("/contacts/import/run", data={
                "csrf_token": token, "csv": html.unescape(csv_text.group(1).decode()), "column-0": "name",
                "column-1": "number", "column-2": "field:child", "column-3": "", "groups": "School"})
            elapsed = time.monotonic() - started
            assert done.status_code == 302 and service.contacts.count_contacts() == args.contacts
            print(f"{args.database}: imported {args.contacts} contacts through the page in {elapsed:.1f} s "
                  f"({args.contacts / elapsed:.0f} rows/s)")

            key = service.keys.create_key("bench", list(SCOPES))[1]
            group = service.contacts.list_groups()[0][0].uid
            calls = {"GET /contacts (page)": ("/contacts", {}),
                     "GET /contacts?q= (page, search)": ("/contacts?q=Parent 99", {}),
                     "GET /api/v1/contacts?limit=50": ("/api/v1/contacts?limit=50",
                                                       {"Authorization": f"Bearer {key}"}),
                     f"GET /api/v1/contacts?group= (all {args.contacts})": (
                         f"/api/v1/contacts?group={group}&limit=200", {"Authorization": f"Bearer {key}"}),
                     "GET /api/v1/groups": ("/api/v1/groups", {"Authorization": f"Bearer {key}"})}
            for name, (path, headers) in calls.items():
                times = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    answer = client.get(path, headers=headers)
                    times.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                print(f"  {name}: p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms")
        finally:
            store.close()
            databases.close()


if __name__ == "__main__":
    main()
