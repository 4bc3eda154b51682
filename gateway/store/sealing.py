"""The box key, kept outside the database, and the values sealed under it: secrets, and at rest the
personal data (message bodies and phone numbers).

The key file (`[security] key_file`, env `SMSGW_KEY_FILE`; by default `<database file>.key` beside an SQLite
database) is created 0600 on first start. It holds lines `<id> <base64 of 32 random bytes>`: the first key
seals, any further ones only open (a rotation that has not finished). From a key HKDF derives an AES-GCM key
that seals text (secrets, bodies, event payloads; a random nonce each time), an AES-SIV key that seals phone
numbers deterministically (the same number seals the same way, so `WHERE number = :n` still finds it: a blind
index, which shows only which rows share a number), and HMAC keys for one-time codes and for lookup keys made
of personal data (received SMS' de-duplication keys). A copied
database alone yields no secret, no body, no number and no way to test guesses at a live code.

A sealed value is text: `~s<key id>~<base64 of nonce | ciphertext>` (text) or `~n<key id>~<base64>`
(numbers). The empty string stays empty (it reveals nothing, and `text != ''` keeps working). A value
without that shape is a plain one from before sealing: it opens as itself, and `reseal` seals it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String, Text, TypeDecorator, select, type_coerce, update
from sqlalchemy.engine import Connection, Dialect, Engine

from gateway.errors import BoxKeyUnusable

KEY_BYTES = 32
NONCE_BYTES = 12
PREFIX = "~s"
NUMBER_PREFIX = "~n"
_DIALECT_ATTRIBUTE = "smsgw_box_key"  # the engine's dialect carries the key: every type processor is given it
_HEADER = ("# smsgw box key: it seals the secrets in the database. Keep it 0600, and keep a copy apart from\n"
           "# the database's backups: without it they cannot be read. The first key seals; others only open.\n")


class KeyMismatch(BoxKeyUnusable):
    """The database was sealed under a key the key file does not hold."""


def _derive(key: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=f"smsgw {purpose}".encode()).derive(key)


@dataclass(frozen=True)
class _Key:
    id: str
    secret: bytes

    @classmethod
    def new(cls) -> _Key:
        secret = secrets.token_bytes(KEY_BYTES)
        return cls(hashlib.sha256(secret).hexdigest()[:8], secret)


class BoxKey:
    """The keys of one key file: `seal`/`open` stored text, `seal_number`/`open` numbers, `otp_pepper`
    for code hashes."""

    def __init__(self, keys: list[_Key], path: Path | None = None, created: bool = False) -> None:
        if not keys:
            raise ValueError("a box key needs at least one key")
        self._keys = keys
        self._aead = {k.id: AESGCM(_derive(k.secret, "seal")) for k in keys}
        self._siv = {k.id: AESSIV(_derive(k.secret, "numbers", 64)) for k in keys}
        self.path, self.created = path, created
        self.otp_pepper = _derive(keys[0].secret, "otp")
        self._index_key = _derive(keys[0].secret, "index")

    @property
    def id(self) -> str:
        """The id of the key that seals."""
        return self._keys[0].id

    @classmethod
    def ephemeral(cls) -> BoxKey:
        """A key that lives as long as the process (an in-memory database's)."""
        return cls([_Key.new()])

    @classmethod
    def load_or_create(cls, path: Path) -> BoxKey:
        """The key file at `path`; created (0600, with its directory 0700) when there is none. Several processes
        starting at once agree: only one creates it, the others read it."""
        try:
            return cls(_read(path), path)
        except FileNotFoundError:
            pass
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls(_read(path), path)
        key = _Key.new()
        with os.fdopen(fd, "w") as f:
            f.write(_HEADER + _line(key))
            f.flush()
            os.fsync(f.fileno())
        return cls([key], path, created=True)

    def seal(self, plain: str) -> str:
        if not plain:
            return plain
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead[self.id].encrypt(nonce, plain.encode(), None)
        return f"{PREFIX}{self.id}~{base64.b64encode(nonce + sealed).decode()}"

    def seal_number(self, plain: str) -> str:
        """`plain` sealed deterministically: equal numbers seal equal (under one key)."""
        if not plain:
            return plain
        return f"{NUMBER_PREFIX}{self.id}~{base64.b64encode(self._siv[self.id].encrypt(plain.encode(), None)).decode()}"

    def open(self, stored: str) -> str:
        """The plain value of `stored`, text or number (a value from before sealing is its own plain value).
        KeyMismatch when it was sealed under a key this file does not hold, or altered since."""
        prefix, key_id, payload = _parts(stored)
        if key_id is None:
            return stored
        ciphers = self._aead if prefix == PREFIX else self._siv
        cipher = ciphers.get(key_id)
        if cipher is None:
            raise KeyMismatch(f"the database was sealed under box key {key_id}, and the key file "
                              f"{self.path or '(in memory)'} holds {', '.join(self._aead)}")
        try:
            raw = base64.b64decode(payload, validate=True)
            if isinstance(cipher, AESGCM):
                return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
            return cipher.decrypt(raw, None).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise KeyMismatch(f"a value sealed under box key {key_id} does not open: it was altered") from exc

    def digest(self, text: str) -> str:
        """A keyed hash of `text` (HMAC-SHA256, hex) for a stored lookup key made of personal data: without the
        key, no guess (a number, a PDU) can be checked against it."""
        return hmac.new(self._index_key, text.encode(), hashlib.sha256).hexdigest()

    def is_current(self, stored: str, number: bool = False) -> bool:
        """Whether `stored` is sealed (as a number, or as text) under the key that seals now."""
        prefix, key_id, _ = _parts(stored)
        return not stored or (key_id == self.id and prefix == (NUMBER_PREFIX if number else PREFIX))

    def rotated(self) -> BoxKey:
        """A new sealing key in front of these ones (which still open)."""
        return BoxKey([_Key.new(), *self._keys], self.path)

    def only_current(self) -> BoxKey:
        return BoxKey(self._keys[:1], self.path)

    def save(self) -> None:
        """Write the key file (atomically, 0600)."""
        if self.path is None:
            raise ValueError("an ephemeral key has no file")
        temporary = self.path.with_name(self.path.name + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(_HEADER + "".join(_line(k) for k in self._keys))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)

    def attach(self, engine: Engine) -> None:
        """Make `Sealed` columns of this engine's statements seal and open under this key."""
        setattr(engine.dialect, _DIALECT_ATTRIBUTE, self)


def _line(key: _Key) -> str:
    return f"{key.id} {base64.b64encode(key.secret).decode()}\n"


def _read(path: Path) -> list[_Key]:
    keys = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            key_id, encoded = line.split()
            secret = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise BoxKeyUnusable(f"{path}:{number}: not a box key line") from exc
        if len(secret) != KEY_BYTES or hashlib.sha256(secret).hexdigest()[:8] != key_id:
            raise BoxKeyUnusable(f"{path}:{number}: not a box key line")
        keys.append(_Key(key_id, secret))
    if not keys:
        raise BoxKeyUnusable(f"{path} holds no box key")
    return keys


def _parts(stored: str) -> tuple[str, str | None, str]:
    """(prefix, key id, payload) of a sealed value; key id None for a plain one."""
    prefix = stored[:2]
    if prefix not in (PREFIX, NUMBER_PREFIX):
        return "", None, stored
    key_id, tilde, payload = stored[2:].partition("~")
    return (prefix, key_id, payload) if tilde and len(key_id) == 8 else ("", None, stored)


def _key_of(dialect: Dialect) -> BoxKey:
    key = getattr(dialect, _DIALECT_ATTRIBUTE, None)
    if not isinstance(key, BoxKey):
        raise BoxKeyUnusable("this engine has no box key (Store attaches one)")
    return key


class Sealed(TypeDecorator[str]):
    """A text column whose values are sealed under the engine's box key (`number`: deterministically, so that
    equality lookups and joins on it work)."""

    impl = Text
    cache_ok = True

    def __init__(self, length: int | None = None, number: bool = False) -> None:
        super().__init__()
        self.impl = String(length) if length else Text()  # type: ignore[assignment]
        self.number = number

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        key = _key_of(dialect)
        return key.seal_number(value) if self.number else key.seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else _key_of(dialect).open(value)


def sealed_columns(metadata: Any) -> list[Any]:
    """Every column of `metadata` whose type is Sealed."""
    return [c for table in metadata.sorted_tables for c in table.columns if isinstance(c.type, Sealed)]


def reseal(conn: Connection, metadata: Any, key: BoxKey) -> int:
    """Seal under `key`'s sealing key every value of a Sealed column that is plain or sealed under another key
    (which `key` must still open). Returns how many values changed."""
    changed = 0
    for column in sealed_columns(metadata):
        table = column.table
        [primary] = table.primary_key.columns
        raw, raw_primary = type_coerce(column, Text), type_coerce(primary, primary.type.impl if isinstance(
            primary.type, Sealed) else primary.type)  # a sealed primary key (suppressions) is matched as stored
        rows = conn.execute(select(raw_primary, raw).where(column.is_not(None))).all()
        number = column.type.number
        for pk, stored in rows:
            if not isinstance(stored, str) or key.is_current(stored, number):
                continue
            plain = key.open(stored)
            conn.execute(update(table).where(raw_primary == pk).values({column.name: type_coerce(
                key.seal_number(plain) if number else key.seal(plain), Text)}))
            changed += 1
    return changed
