"""`smsgw db copy --to URL`: a box's whole database (messages, inbox, keys, webhooks, consent, audit, …) into
another, such as PostgreSQL when one box becomes several.

The target gets the schema first and must hold nothing yet. Rows are copied table by table in dependency order,
in batches, through the models' column types: sealed values are opened with the box key and sealed again under
the same key (the target's key file is the source's, copied when it does not exist). Then every row is read
back from both sides and compared, and PostgreSQL's id sequences are moved past the copied ids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from sqlalchemy import Connection, Table, func, insert, select, text

from gateway.errors import GatewayError
from gateway.store import Store, key_file_for
from gateway.store.migrate import upgrade
from gateway.store.models import Base

BATCH = 1000
Progress = Callable[[str, int, int], None]  # (table, rows copied, rows in all)


class CopyRefused(GatewayError):
    code = "copy_refused"


def target_key(source: Store, to_url: str, key_file: str) -> Path:
    """The target's key file: the source's key, copied there when it does not exist; refused when another is."""
    path = key_file_for(to_url, key_file)
    if path is None or source.box_key.path is None:
        raise CopyRefused("an in-memory database cannot be copied to or from")
    if path.resolve() == source.box_key.path.resolve():
        return path
    if path.exists():
        if path.read_bytes() != source.box_key.path.read_bytes():
            raise CopyRefused(f"{path} holds another box key: the copy must be sealed under the source's")
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(source.box_key.path.read_bytes())
    return path


def copy_database(source: Store, target: Store, progress: Progress) -> dict[str, int]:
    """Copy every row of `source` into the empty `target` and compare them read back; rows per table."""
    upgrade(target.engine)
    tables = Base.metadata.sorted_tables
    with target.engine.connect() as conn:
        filled = [t.name for t in tables if conn.execute(select(func.count()).select_from(t)).scalar_one()]
    if filled:
        raise CopyRefused(f"the target already holds data ({', '.join(filled[:3])}, …): copy into an empty database")
    copied: dict[str, int] = {}
    with source.engine.connect() as read, target.engine.begin() as write:
        for table in tables:
            total = read.execute(select(func.count()).select_from(table)).scalar_one()
            done = 0
            rows = read.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            while batch := [dict(row) for row in rows.fetchmany(BATCH)]:
                write.execute(insert(table), batch)
                done += len(batch)
                progress(table.name, done, total)
            copied[table.name] = done
        if write.dialect.name == "postgresql":
            for table in tables:
                _advance_sequence(write, table)
    _compare(source, target, tables)
    return copied


def _advance_sequence(conn: Connection, table: Table) -> None:
    """The next id after the copied ones (explicit ids do not move a serial's sequence)."""
    for column in table.primary_key.columns:
        if column.autoincrement is True or (column.autoincrement == "auto" and column.type.python_type is int):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                              f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"))


def _compare(source: Store, target: Store, tables: list[Table]) -> None:
    """Every row read back from both databases, in primary-key order, equal (sealed values opened)."""
    with source.engine.connect() as left, target.engine.connect() as right:
        for table in tables:
            order = list(table.primary_key.columns)
            a = left.execute(select(table).order_by(*order)).mappings()
            b = right.execute(select(table).order_by(*order)).mappings()
            while True:
                batch_a, batch_b = a.fetchmany(BATCH), b.fetchmany(BATCH)
                if [dict(r) for r in batch_a] != [dict(r) for r in batch_b]:
                    raise CopyRefused(f"table {table.name} reads back differently from the copy: not complete")
                if not batch_a:
                    break

