"""The keys personal data is sealed with: AES-256-GCM, each value tagged with its key's ID.

New values are sealed with the current key; any key in the ring opens what it sealed, so a new
key can take over while values sealed with the old one are still being rewritten. Here, at the
bottom, because the database columns (``store/``) and the Temporal payloads
(``integrations/``) use the same ring. Pure computation: the keys are given, nothing is read.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's 96-bit nonce, random per value
# Stored beside every value (and between colons in a column), so: short and plain.
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class KeyringError(ValueError):
    """A key that can't be used, or a sealed value that can't be opened."""


class UnknownKey(KeyringError):
    """The value was sealed with a key that is not in the ring (removed too early?)."""


class NotAuthentic(KeyringError):
    """The value was changed, or moved from where it was sealed (another column, say)."""


def check_key_id(key_id: str) -> str:
    if not KEY_ID_PATTERN.match(key_id):
        raise KeyringError(f"key ID {key_id!r} must be 1-64 of A-Z a-z 0-9 . _ -")
    return key_id


def decode_key(key_id: str, encoded: str) -> bytes:
    """A key as configured: base64 of exactly 32 bytes."""
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise KeyringError(f"key {key_id!r} is not base64") from None
    return _checked_length(key_id, key)


def new_key() -> str:
    """A fresh random key, base64 as the settings take it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


@dataclass(frozen=True)
class Sealed:
    """One sealed value: which key, the nonce, and the ciphertext with GCM's tag."""

    key_id: str
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        """Self-describing: key ID length (1 byte), key ID, nonce, ciphertext."""
        key_id = self.key_id.encode("ascii")
        return bytes([len(key_id)]) + key_id + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, blob: bytes) -> Sealed:
        if not blob:
            raise KeyringError("empty sealed value")
        start = 1 + blob[0]
        if len(blob) < start + NONCE_BYTES:
            raise KeyringError("sealed value is too short")
        return cls(
            key_id=blob[1:start].decode("ascii", errors="replace"),
            nonce=blob[start : start + NONCE_BYTES],
            ciphertext=blob[start + NONCE_BYTES :],
        )


class Keyring:
    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise KeyringError(f"the current key {current!r} is not in the ring")
        self._ciphers = {
            check_key_id(key_id): AESGCM(_checked_length(key_id, key))
            for key_id, key in keys.items()
        }
        self.current = current

    @classmethod
    def from_encoded(cls, keys: Mapping[str, str], current: str) -> Keyring:
        """From key ID → base64 key, as ``ORDERFLOW_ENCRYPTION_KEYS`` holds them."""
        return cls({key_id: decode_key(key_id, key) for key_id, key in keys.items()}, current)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def seal(self, plaintext: bytes, aad: bytes) -> Sealed:
        """Sealed with the current key. ``aad`` (where the value lives) must be given again
        to open it: a value copied elsewhere does not open there."""
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self.current].encrypt(nonce, plaintext, aad)
        return Sealed(self.current, nonce, ciphertext)

    def open(self, sealed: Sealed, aad: bytes) -> bytes:
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise UnknownKey(f"sealed with key {sealed.key_id!r}, which is not in the ring")
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, aad)
        except InvalidTag:
            raise NotAuthentic(f"a value sealed with key {sealed.key_id!r} fails to open") from None

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """Key ID + random nonce + ciphertext, in one blob."""
        return self.seal(plaintext, aad).to_bytes()

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Opened with the key the blob names."""
        return self.open(Sealed.from_bytes(blob), aad)


def _checked_length(key_id: str, key: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise KeyringError(f"key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
    return key
