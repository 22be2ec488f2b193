"""Workflow payloads sealed before they leave the process: the Temporal server, its UI and
anyone reading histories see ciphertext; only holders of the keyring (workers, the API, the
codec server in ``api/routes/codec.py``) see inputs, results, signals and failures.

The sealed payload says ``binary/encrypted`` and names its key (``encryption-key-id``), as
Temporal's samples do. A payload without that encoding is passed through as it is: histories
recorded before encryption (and the tests' recorded ones) still replay.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from config.keyring import Keyring

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
# Bound into every payload's ciphertext, so a sealed column value can't pass for a payload.
PAYLOAD_AAD = b"orderflow/temporal-payload"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.seal(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.open(p) for p in payloads]

    def seal(self, payload: Payload) -> Payload:
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self.keyring.current.encode()},
            data=self.keyring.encrypt(payload.SerializeToString(), PAYLOAD_AAD),
        )

    def open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        # The key ID inside the data decides (the metadata's copy is for people and tools).
        return Payload.FromString(self.keyring.decrypt(payload.data, PAYLOAD_AAD))
