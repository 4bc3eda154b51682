"""A throwaway PostgreSQL cluster for tests and benchmarks: Debian's binaries, a temp directory owned by
the `postgres` user, a free loopback port, stopped (and deleted) at the end. The system cluster is left alone.

    with PostgresCluster.start() as pg:
        url = pg.create_database()        # a fresh database with the schema (copied from a migrated template)
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from tests.ports import free_port

PG_BIN = Path(os.environ.get("SMSGW_PG_BIN", "/usr/lib/postgresql/15/bin"))
TEMPLATE = "smsgw_template"


def pg_available() -> str | None:
    """None when a cluster can be started here, else the reason it cannot."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL binaries not found in {PG_BIN} (apt-get install postgresql)"
    if shutil.which("runuser") is None:
        return "runuser not found"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    return None


class PostgresCluster:
    """One postgres server in a temp dir. `durable=False` (tests) turns fsync off; benchmarks keep it on."""

    def __init__(self, directory: Path, port: int, durable: bool) -> None:
        self.directory = directory
        self.port = port
        self.durable = durable
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._has_template = False
        self._options = ""

    @classmethod
    def start(cls, *, durable: bool = False, max_connections: int = 200) -> "PostgresCluster":
        reason = pg_available()
        if reason:
            raise RuntimeError(reason)
        root = Path(tempfile.mkdtemp(prefix="smsgw-pg-"))
        shutil.chown(root, "postgres", "postgres")
        cluster = cls(root, free_port(), durable)
        data = root / "data"
        cluster._pg("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale",
                    *(() if durable else ("--no-sync",)))
        options = f"-h 127.0.0.1 -p {cluster.port} -k {root} -c max_connections={max_connections}"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        cluster._options = options
        cluster.start_server()
        return cluster

    def start_server(self) -> None:
        """Start the server (again, after `stop_server`)."""
        self._pg("pg_ctl", "-D", str(self.directory / "data"), "-l", str(self.directory / "log"), "-w", "-o",
                 self._options, "start")

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server, keeping its data: "fast" (clients disconnected, clean) or "immediate" (a crash)."""
        self._pg("pg_ctl", "-D", str(self.directory / "data"), "-m", mode, "-w", "stop")

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args], check=True,
                       capture_output=True, cwd=self.directory)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, *, schema: bool = True) -> str:
        """A new database (with the gateway's schema, migrated once into a template); returns its URL."""
        with self._lock:
            name = f"smsgw_{next(self._names)}"
            if schema and not self._has_template:
                self._make_template()
            template = f" TEMPLATE {TEMPLATE} STRATEGY FILE_COPY" if schema else ""
            self.execute(f"CREATE DATABASE {name}{template}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def _make_template(self) -> None:
        from gateway.store.database import make_engine
        from gateway.store.migrate import upgrade

        self.execute(f"CREATE DATABASE {TEMPLATE}")
        engine = make_engine(self.url(TEMPLATE))
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        self._has_template = True

    def stop(self) -> None:
        try:
            self._pg("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "PostgresCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
