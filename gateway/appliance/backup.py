"""`smsgw backup FILE` and `smsgw restore FILE`: a box's database and box key in one file.

The file is a gzipped tar:

* `manifest.json`: the release, the schema revision, the kind of database, when;
* `database.sqlite` (SQLite's online backup API: consistent while the gateway runs) or `database.pgdump`
  (`pg_dump --format=custom`: one consistent snapshot);
* `box-key.json`: the key file that opens the database's sealed values, encrypted under a passphrase
  (scrypt, then AES-256-GCM): without the passphrase the backup reveals nothing sealed.

Restore puts both back on a box whose database does not exist yet (SQLite) or is empty (PostgreSQL), then opens
it as a start does (migrating a backup of an older release, checking the key opens it).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.version import VERSION

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # about 0.1 s and 32 MB: a passphrase guessed slowly, a Pi copes
FORMAT = 1
PG_TOOLS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


class BackupError(GatewayError):
    """A backup that cannot be made, read or restored here; the message says why."""

    code = "backup_failed"


def backup(settings: Settings, target: Path, passphrase: str, now: datetime) -> dict[str, Any]:
    """Write `target` from the database and box key of `settings`; returns the manifest."""
    from gateway.store import key_file_for, sqlite_file
    from gateway.store.migrate import current_revision

    if len(passphrase) < 8:
        raise BackupError("the passphrase must have at least 8 characters (it is all that protects the box key)")
    url = settings.database.url
    key_path = key_file_for(url, settings.security.key_file)
    if key_path is None or not key_path.exists():
        raise BackupError(f"no box key file at {key_path}: start the box once, or give [security] key_file")
    path = sqlite_file(url)
    with tempfile.TemporaryDirectory() as work:
        if path is not None:
            if not path.exists():
                raise BackupError(f"no database at {path}")
            dump, kind = Path(work) / "database.sqlite", "sqlite"
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as source, sqlite3.connect(dump) as copy:
                source.backup(copy)
        elif url.startswith("postgresql"):
            from gateway.store.notify import conninfo

            dump, kind = Path(work) / "database.pgdump", "postgresql"
            _run(_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump), conninfo(url))
        else:
            raise BackupError(f"cannot back up {url}: only an SQLite file or PostgreSQL")
        from sqlalchemy import create_engine

        engine = create_engine(f"sqlite:///{dump}" if kind == "sqlite" else url)
        try:
            revision = current_revision(engine)
        finally:
            engine.dispose()
        manifest = {"format": FORMAT, "release": VERSION, "schema": revision, "database": kind,
                    "created_at": now.isoformat()}
        sealed_key = seal_key(key_path.read_bytes(), passphrase)
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            _add(archive, "manifest.json", json.dumps(manifest, indent=1).encode())
            archive.add(dump, arcname=dump.name)
            _add(archive, "box-key.json", json.dumps(sealed_key).encode())
        os.chmod(partial, 0o600)
        partial.replace(target)  # a backup cut short never takes the name of a good one
    return manifest


def copy_before_upgrade(settings: Settings, directory: Path) -> Path | None:
    """Before a schema upgrade, copy the database (and its box key, as it is) into `directory`, so that an upgrade
    that goes wrong can be rolled back by putting the copy in place and installing the previous release. Returns
    the copy, or None when there is nothing to upgrade (no database yet, or already at the latest schema)."""
    from sqlalchemy import create_engine

    from gateway.store import key_file_for, sqlite_file
    from gateway.store.migrate import current_revision, head_revision

    url = settings.database.url
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None
    engine = create_engine(url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    if revision is None or revision == head_revision():
        return None
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path is not None:
        copy = directory / f"{path.stem}-{revision}.sqlite"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as source, sqlite3.connect(copy) as target:
            source.backup(target)
    elif url.startswith("postgresql"):
        from gateway.store.notify import conninfo

        copy = directory / f"database-{revision}.pgdump"
        _run(_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(copy), conninfo(url))
    else:
        raise BackupError(f"cannot copy {url} before upgrading: only an SQLite file or PostgreSQL")
    os.chmod(copy, 0o600)
    key_path = key_file_for(url, settings.security.key_file)
    if key_path is not None and key_path.exists():
        shutil.copy2(key_path, directory / f"{copy.name}.key")
    return copy


def restore(settings: Settings, source: Path, passphrase: str) -> dict[str, Any]:
    """Put the backup at `source` in place for `settings`: the database, then the box key; returns its manifest.
    Refuses to overwrite: an existing SQLite file or key file, or a PostgreSQL database with tables."""
    from gateway.store import key_file_for, sqlite_file

    url = settings.database.url
    key_path = key_file_for(url, settings.security.key_file)
    if key_path is None:
        raise BackupError("an in-memory database cannot be restored to")
    try:
        archive = tarfile.open(source, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{source} is not a smsgw backup ({exc})") from None
    with archive, tempfile.TemporaryDirectory() as work:
        manifest: dict[str, Any] = json.loads(_member(archive, "manifest.json"))
        if manifest.get("format") != FORMAT:
            raise BackupError(f"{source} has backup format {manifest.get('format')!r}; this release reads {FORMAT}")
        key_text = open_key(json.loads(_member(archive, "box-key.json")), passphrase)
        if key_path.exists():
            raise BackupError(f"a box key file already exists at {key_path}: restore onto a fresh box (or move it "
                              "away first)")
        path = sqlite_file(url)
        if manifest["database"] == "sqlite":
            if path is None:
                raise BackupError("this backup holds an SQLite database: point [database] url at an SQLite file")
            if path.exists():
                raise BackupError(f"a database already exists at {path}: restore onto a fresh box (or move it away)")
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = path.with_name(path.name + ".restoring")
            staged.write_bytes(_member(archive, "database.sqlite"))
            os.chmod(staged, 0o600)
            staged.replace(path)
        else:
            if not url.startswith("postgresql"):
                raise BackupError("this backup holds a PostgreSQL database: point [database] url at PostgreSQL")
            from gateway.store.notify import conninfo

            _refuse_nonempty_postgres(url)
            dump = Path(work) / "database.pgdump"
            dump.write_bytes(_member(archive, "database.pgdump"))
            _run(_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", conninfo(url), str(dump))
        key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key_text)
    return manifest


def seal_key(key_file: bytes, passphrase: str) -> dict[str, str]:
    salt, nonce = os.urandom(16), os.urandom(12)
    box = AESGCM(_stretch(passphrase, salt))
    return {"kdf": "scrypt", "salt": _b64(salt), "nonce": _b64(nonce),
            "ciphertext": _b64(box.encrypt(nonce, key_file, b"smsgw box key"))}


def open_key(sealed: dict[str, str], passphrase: str) -> bytes:
    try:
        box = AESGCM(_stretch(passphrase, base64.b64decode(sealed["salt"])))
        return box.decrypt(base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ciphertext"]),
                           b"smsgw box key")
    except InvalidTag:
        raise BackupError("wrong passphrase: the box key in this backup does not open with it") from None
    except (KeyError, ValueError) as exc:
        raise BackupError(f"the backup's box key is damaged ({exc})") from None


def _stretch(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase.encode())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    archive.addfile(info, io.BytesIO(data))


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    try:
        member = archive.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise BackupError(f"the backup has no {name}: not a smsgw backup, or damaged")
    return member.read()


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next((f"{d}/{name}" for d in PG_TOOLS if Path(d, name).exists()), None)
    if found is None:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client)")
    return found


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise BackupError(f"{Path(command[0]).name} failed: {said[-1] if said else f'exit {done.returncode}'}")


def _refuse_nonempty_postgres(url: str) -> None:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise BackupError(f"the PostgreSQL database already has tables ({', '.join(sorted(tables)[:3])}, …): "
                          "restore into an empty one")
