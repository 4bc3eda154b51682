"""A migration that fails part-way (the drill: a broken revision after the real ones) leaves the database as it
was: every pending revision runs in one transaction, so the schema stays at the old revision with all its rows
(never half-migrated), and the same database upgrades cleanly once the migrations are right."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from sqlalchemy import inspect, text

from gateway.store import migrate
from gateway.store.database import make_engine
from tests.appliance.test_upgrade import build_0001_database

BROKEN = '''"""the drill: creates a table, then fails"""

import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("drill", sa.Column("id", sa.Integer(), primary_key=True))
    raise RuntimeError("the drill's migration fails here")


def downgrade() -> None:
    op.drop_table("drill")
'''


def test_a_migration_that_fails_part_way_leaves_the_old_schema_and_every_row(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'box.db'}"
    build_0001_database(url)
    engine = make_engine(url)
    migrate.upgrade(engine, "0014")  # a box of the last release
    head = migrate.head_revision()
    broken = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, broken, ignore=shutil.ignore_patterns("__pycache__"))
    (broken / "versions" / "9999_drill.py").write_text(BROKEN.format(head=head))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", broken)

    with pytest.raises(RuntimeError, match="the drill's migration fails here"):
        migrate.upgrade(engine)  # 0015, 0016, 0017 ran, then the drill failed: all of it is undone
    assert migrate.current_revision(engine) == "0014"
    with engine.connect() as db:
        tables = set(inspect(db).get_table_names())
        assert "drill" not in tables and "inbound_rules" not in tables and "alerts" not in tables
        assert db.execute(text("SELECT count(*) FROM messages")).scalar() == 2
        assert db.execute(text("SELECT count(*) FROM message_events")).scalar() == 2
    engine.dispose()

    monkeypatch.undo()  # the real migrations: the same database upgrades cleanly afterwards
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    result = subprocess.run([sys.executable, "-m", "gateway", "db", "upgrade", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    assert migrate.current_revision(engine) == head
    engine.dispose()
