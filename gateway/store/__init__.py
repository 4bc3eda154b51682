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
| `templates`, `otps`, `idempotency`, `audit`, `request_counts`, `keys`, `modems`, `settings`, `stats` | one each | — |

A message's state changes go through `transitions.transition` whichever area moves it. Nobody outside
gateway/store opens a Session; verbs return detached model objects or frozen values (gateway.values).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from gateway.rules.keywords import KeywordRules
from gateway.store.admin_settings import AdminSettings
from gateway.store.audit import AuditLog
from gateway.store.batches import Batches
from gateway.store.consent import Consent
from gateway.store.database import Database, make_engine
from gateway.store.events import Events
from gateway.store.idempotency import IdempotencyRecords
from gateway.store.inbox import Inbox
from gateway.store.keys import ApiKeys
from gateway.store.modems import Modems
from gateway.store.otp import Otps
from gateway.store.outbox import Outbox
from gateway.store.privacy import Privacy
from gateway.store.ratelimits import RequestCounts
from gateway.store.reports import StatusReports
from gateway.store.stats import Stats
from gateway.store.templates import Templates


class Store:
    """The store's areas over one database, wired to each other explicitly (see the table above)."""

    def __init__(self, engine: Engine, keyword_rules: KeywordRules = KeywordRules()) -> None:
        self.db = Database(engine)
        self.events = Events(self.db)
        self.reports = StatusReports(self.db, self.events)
        self.outbox = Outbox(self.db, self.events)
        self.consent = Consent(self.db, keyword_rules)
        self.inbox = Inbox(self.db, self.events, self.consent, self.outbox)
        self.batches = Batches(self.db, self.outbox)
        self.privacy = Privacy(self.db, self.outbox)
        self.templates = Templates(self.db)
        self.otps = Otps(self.db)
        self.idempotency = IdempotencyRecords(self.db)
        self.audit = AuditLog(self.db)
        self.request_counts = RequestCounts(self.db)
        self.keys = ApiKeys(self.db)
        self.modems = Modems(self.db)
        self.settings = AdminSettings(self.db)
        self.stats = Stats(self.db)

    @classmethod
    def from_url(cls, url: str, busy_timeout_ms: int = 5000, synchronous: str = "normal",
                 keyword_rules: KeywordRules = KeywordRules()) -> Store:
        return cls(make_engine(url, busy_timeout_ms, synchronous), keyword_rules)

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
