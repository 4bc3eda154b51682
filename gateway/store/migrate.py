"""Schema migrations (Alembic), run by `smsgw db upgrade` and at start-up.

Alembic (with Mako and Pygments behind it, about 6 MB of a small box's memory) is imported only when the
database is behind: a start-up on a current schema reads `alembic_version` and compares it with the head
revision named in the migration files.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:  # Alembic is imported only when the schema is behind
    from alembic.config import Config

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_REVISION = re.compile(r"""^(down_revision|revision) = ['"]?(\w+)['"]?$""", re.M)


def head_revision() -> str:
    """The one revision no other migration file names as its `down_revision`."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        fields = dict(_REVISION.findall(path.read_text()))
        revisions.add(fields["revision"])
        parents.add(fields.get("down_revision"))
    [head] = revisions - parents
    return str(head)


def is_current(engine: Engine) -> bool:
    """Whether the database's schema is at the head revision."""
    return current_revision(engine) == head_revision()


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to `revision` (nothing to do, and no Alembic import, when it is there).

    On SQLite, foreign keys are off while migrating: a batch migration recreates a table (copy, drop the old
    one, rename), and with foreign keys on, dropping the old `messages` cascades ON DELETE into its children
    (every message_events row was lost upgrading a 0001 database). The pragma is a no-op inside a
    transaction, so it is set on the DBAPI connection before BEGIN."""
    if revision == "head" and is_current(engine):
        return
    from alembic import command

    before = current_revision(engine)
    with engine.connect() as connection:
        raw = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                command.upgrade(_config(connection), revision)
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
    log.info("database schema %s: %s", f"upgraded from {before}" if before else "created",
             current_revision(engine))


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision; None for a database without one (new)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def make_revision(engine: Engine, message: str) -> None:
    """Autogenerate a new revision from the models (a developer's tool)."""
    from alembic import command

    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
