"""Persistence: typed SQLAlchemy models, and the store's areas composed over one database.

Each area is one module and one class over the shared `Database` (which owns the engine, the sessions and the
transactions); an area that needs another gets it at construction, so the wiring below is the whole graph:

| area | module | depends on |
| --- | --- | --- |
| `events` (events, deliveries, webhooks) | events.py | — |
| `reports` (status reports) | reports.py | events |
| `outbox` (the one enqueue path, claims, sends, retries, recovery) | outbox.py | events |
| `consent` (opt-outs, keyword rules) | consent.py | — |
| `inbox` (receiving: inbox → consent → outbox → events, one transaction) | inbox.py | events, consent, outbox |
| `batches` | batches.py | outbox |
| `privacy` (retention, redaction, erasure) | privacy.py | outbox |
| `boxes` (the boxes sharing the database, heartbeats, settling a dead one) | boxes.py | outbox |
| `inbound_rules` (rules, runs and the group changes of runs) | inbound_rules.py | events, contacts.py |
| `contacts` (contacts and contact groups) | contacts.py | — |
| `templates`, `otps`, `idempotency`, `audit`, `request_counts`, `keys`, `modems`, `settings`, `stats` | one each | — |
| `users`, `accounts` (people who log in; departments, their quotas and use) | one each | — |

The inbox also takes the box key's `digest` (its de-duplication keys are keyed hashes). A message's state
changes go through `transitions.transition` whichever area moves it. Nobody outside gateway/store opens a Session;
verbs return detached model objects or frozen values (gateway.values).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Text, insert, select, type_coerce, update
from sqlalchemy.engine import Engine, make_url

from gateway.errors import BoxKeyUnusable
from gateway.rules.keywords import KeywordRules
from gateway.store.accounts import Accounts
from gateway.store.admin_settings import AdminSettings
from gateway.store.audit import AuditLog
from gateway.store.batches import Batches
from gateway.store.boxes import Boxes
from gateway.store.consent import Consent
from gateway.store.database import Database, make_engine, once_more_after_a_race
from gateway.store.events import Events
from gateway.store.idempotency import IdempotencyRecords
from gateway.store.inbox import Inbox
from gateway.store.keys import ApiKeys
from gateway.store.models import AdminSetting, Base
from gateway.store.modems import Modems
from gateway.store.otp import Otps
from gateway.store.outbox import Outbox
from gateway.store.privacy import Privacy
from gateway.store.ratelimits import RequestCounts
from gateway.store.reports import StatusReports
from gateway.store.sealing import BoxKey, reseal, sealed_columns
from gateway.store.stats import Stats
from gateway.store.alerts import Alerts
from gateway.store.contacts import Contacts
from gateway.store.inbound_rules import InboundRules
from gateway.store.probes import Probes
from gateway.store.templates import Templates
from gateway.store.users import Users


KEY_CHECK = "box_key_check"  # an admin setting sealed under the box key: opening it proves the key is the right one


def sealing_scheme() -> str:
    """What KEY_CHECK holds once every sealed column is sealed: their names (a column sealed since reseals)."""
    return ",".join(f"{c.table.name}.{c.name}" for c in sealed_columns(Base.metadata))


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite database named by a plain path; None for PostgreSQL, in-memory and URI databases."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def key_file_for(url: str, key_file: str = "") -> Path | None:
    """Where the box key of the database at `url` is: `key_file` when given, else `<file>.key` beside an SQLite
    file; None for an in-memory database (its key lives as long as it does)."""
    if key_file:
        return Path(key_file)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BoxKeyUnusable("[security] key_file must name the box key file with PostgreSQL (every box sharing "
                             "the database reads the same one)")
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:") or "mode=memory" in database:
        return None
    if (path := sqlite_file(url)) is None:  # an SQLite URI: its path is not a plain file name to put a key beside
        raise BoxKeyUnusable("[security] key_file must name the box key file for an SQLite URI database")
    return Path(f"{path}.key")


class Store:
    """The store's areas over one database, wired to each other explicitly (see the table above). Sealed
    columns (gateway/store/sealing.py) seal and open under `box_key`."""

    def __init__(self, engine: Engine, box_key: BoxKey, keyword_rules: KeywordRules = KeywordRules()) -> None:
        self.box_key = box_key
        box_key.attach(engine)
        self.db = Database(engine)
        self.events = Events(self.db)
        self.reports = StatusReports(self.db, self.events)
        self.outbox = Outbox(self.db, self.events)
        self.consent = Consent(self.db, keyword_rules)
        self.inbox = Inbox(self.db, self.events, self.consent, self.outbox, box_key.digest)
        self.batches = Batches(self.db, self.outbox)
        self.privacy = Privacy(self.db, self.outbox)
        self.templates = Templates(self.db)
        self.inbound_rules = InboundRules(self.db, self.events)
        self.contacts = Contacts(self.db)
        self.alerts = Alerts(self.db, self.events)
        self.probes = Probes(self.db, self.events)
        self.otps = Otps(self.db)
        self.idempotency = IdempotencyRecords(self.db)
        self.audit = AuditLog(self.db)
        self.users = Users(self.db)
        self.accounts = Accounts(self.db)
        self.request_counts = RequestCounts(self.db)
        self.keys = ApiKeys(self.db)
        self.modems = Modems(self.db)
        self.boxes = Boxes(self.db, self.outbox)
        self.settings = AdminSettings(self.db)
        self.stats = Stats(self.db)

    @classmethod
    def from_url(cls, url: str, busy_timeout_ms: int = 5000, synchronous: str = "normal",
                 keyword_rules: KeywordRules = KeywordRules(), key_file: str = "") -> Store:
        """The store at `url`, its box key read (or made, the first time) from `key_file_for(url, key_file)`."""
        path = key_file_for(url, key_file)
        box_key = BoxKey.ephemeral() if path is None else BoxKey.load_or_create(path)
        return cls(make_engine(url, busy_timeout_ms, synchronous), box_key, keyword_rules)

    @once_more_after_a_race  # another box inserted the check between our read and our insert
    def seal(self, now: datetime) -> int:
        """Check that the box key opens this database, and seal what is not sealed under its sealing key yet
        (values from before sealing, from before a rotation, or of columns sealed since). Returns how many
        values were sealed.

        KeyMismatch when the database was sealed under another key; a key file made by this start is then
        removed again, so that restoring the right one is all it takes."""
        scheme = sealing_scheme()
        with self.db.write_core() as conn:
            check = conn.execute(select(type_coerce(AdminSetting.value, Text))
                                 .where(AdminSetting.key == KEY_CHECK)).scalar()
            if check is not None and self._open_check(check) == scheme and self.box_key.is_current(check):
                return 0
            changed = reseal(conn, Base.metadata, self.box_key)
            if check is None:
                conn.execute(insert(AdminSetting).values(key=KEY_CHECK, value=scheme, updated_at=now))
            else:
                conn.execute(update(AdminSetting).where(AdminSetting.key == KEY_CHECK)
                             .values(value=scheme, updated_at=now))
            return changed

    def rekey(self, box_key: BoxKey) -> int:
        """Seal everything under `box_key` (which must still open what the current key sealed), in one
        transaction; from then on this store uses it."""
        box_key.attach(self.engine)
        self.box_key = box_key
        with self.db.write_core() as conn:
            return reseal(conn, Base.metadata, box_key)

    def _open_check(self, check: str) -> str:
        try:
            return self.box_key.open(check)
        except BoxKeyUnusable:
            if self.box_key.created and self.box_key.path is not None:
                self.box_key.path.unlink(missing_ok=True)
            raise

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @property
    def is_sqlite(self) -> bool:
        return self.db.is_sqlite

    def ping(self) -> None:
        """StoreUnavailable when the database does not answer."""
        self.db.ping()

    def close(self) -> None:
        self.db.close()


__all__ = ["Store"]
