"""Schema migrations (Alembic), run by `smsgw db upgrade` and at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema up to `revision`.

    On SQLite, foreign keys are off while migrating: a batch migration recreates a table (copy, drop the old
    one, rename), and with foreign keys on, dropping the old `messages` cascades ON DELETE into its children
    (every message_events row was lost upgrading a 0001 database). The pragma is a no-op inside a
    transaction, so it is set on the DBAPI connection before BEGIN."""
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


def make_revision(engine: Engine, message: str) -> None:
    """Autogenerate a new revision from the models (a developer's tool)."""
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
