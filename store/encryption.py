"""Columns holding personal data, sealed with the keyring (``config/keyring.py``).

A sealed value is stored as text: ``v1:<key id>:<base64 of nonce + ciphertext>``. The key ID
stays with the value, so any key in the ring reads it, and rewriting the rows sealed with
an old key (``orderflow keys rotate``) can find them in SQL. Each column's name is bound into
its ciphertext: a value copied into another column does not open there.

The keyring belongs to the engine: ``store.db.make_engine(url, keyring=...)`` puts it on the
engine's dialect, which SQLAlchemy hands to every column type, so each engine reads and writes
with its own ring and nothing is configured at import. An engine made without one can use
every table but fails on a sealed column, saying so.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from sqlalchemy import Engine, Text, TypeDecorator
from sqlalchemy.engine import Dialect

from config.keyring import NONCE_BYTES, Keyring, KeyringError, Sealed

FORMAT = "v1"
_SEALED_TEXT = re.compile(r"^v1:([A-Za-z0-9._-]{1,64}):([A-Za-z0-9+/]+={0,2})$")
_DIALECT_ATTRIBUTE = "orderflow_keyring"


class MissingKeyring(RuntimeError):
    pass


def install_keyring(engine: Engine, keyring: Keyring) -> None:
    setattr(engine.dialect, _DIALECT_ATTRIBUTE, keyring)


def keyring_of(dialect: Dialect) -> Keyring:
    keyring = getattr(dialect, _DIALECT_ATTRIBUTE, None)
    if not isinstance(keyring, Keyring):
        raise MissingKeyring(
            "this engine has no keyring for the sealed columns: "
            "make it with store.db.make_engine(url, keyring=...)"
        )
    return keyring


def seal_text(keyring: Keyring, plaintext: bytes, aad: bytes) -> str:
    sealed = keyring.seal(plaintext, aad)
    encoded = base64.b64encode(sealed.nonce + sealed.ciphertext).decode("ascii")
    return f"{FORMAT}:{sealed.key_id}:{encoded}"


def sealed_key_id(stored: str) -> str | None:
    """The key a stored value was sealed with; None for a value stored in clear (written
    before encryption, or by a process that predates it)."""
    match = _SEALED_TEXT.match(stored)
    return match.group(1) if match else None


def open_text(keyring: Keyring, stored: str, aad: bytes) -> bytes:
    match = _SEALED_TEXT.match(stored)
    if match is None:
        raise KeyringError("not a sealed value")
    try:
        blob = base64.b64decode(match.group(2), validate=True)
    except binascii.Error:
        raise KeyringError("sealed value is not base64") from None
    return keyring.open(Sealed(match.group(1), blob[:NONCE_BYTES], blob[NONCE_BYTES:]), aad)


def read_stored(keyring: Keyring, stored: str, aad: bytes) -> bytes:
    """A stored value's plaintext, sealed or (from before encryption) in clear."""
    if sealed_key_id(stored) is None:
        return stored.encode()
    return open_text(keyring, stored, aad)


class EncryptedText(TypeDecorator[str]):
    """A string sealed at rest. Not comparable in SQL: each write has a new nonce."""

    impl = Text
    cache_ok = True

    def __init__(self, aad: str) -> None:
        super().__init__()
        self.aad = aad  # "<table>.<column>", bound into the ciphertext

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return seal_text(keyring_of(dialect), value.encode(), self.aad.encode())

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return read_stored(keyring_of(dialect), value, self.aad.encode()).decode()


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document sealed at rest (stored as text: the database can't look inside)."""

    impl = Text
    cache_ok = True

    def __init__(self, aad: str) -> None:
        super().__init__()
        self.aad = aad

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        document = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return seal_text(keyring_of(dialect), document.encode(), self.aad.encode())

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(read_stored(keyring_of(dialect), value, self.aad.encode()))
