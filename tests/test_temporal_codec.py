"""The payload codec: sealed payloads name their key and open with any key of the ring;
payloads it did not seal (histories recorded before) pass through untouched."""

from __future__ import annotations

import dataclasses
import os

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

from config.keyring import Keyring, UnknownKey
from domain.messages import CancelRequest
from integrations.temporal import data_converter
from integrations.temporal_codec import EncryptionCodec

OLD, NEW = os.urandom(32), os.urandom(32)


def plain(data: bytes) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


async def test_a_payload_is_sealed_with_the_current_key_and_opens_again() -> None:
    codec = EncryptionCodec(Keyring({"k1": OLD}, current="k1"))
    original = plain(b'{"customer_id": "c-42", "reason": "moved house"}')
    (sealed,) = await codec.encode([original])
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert b"c-42" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [original]


async def test_payloads_it_did_not_seal_pass_through() -> None:
    codec = EncryptionCodec(Keyring({"k1": OLD}, current="k1"))
    old = [plain(b'"recorded before encryption"'), Payload(metadata={}, data=b"")]
    assert await codec.decode(old) == old


async def test_a_rotated_ring_opens_payloads_sealed_with_the_old_key() -> None:
    (sealed,) = await EncryptionCodec(Keyring({"old": OLD}, current="old")).encode([plain(b"1")])
    rotated = EncryptionCodec(Keyring({"old": OLD, "new": NEW}, current="new"))
    assert await rotated.decode([sealed]) == [plain(b"1")]
    (resealed,) = await rotated.encode([plain(b"1")])
    assert resealed.metadata["encryption-key-id"] == b"new"
    with pytest.raises(UnknownKey):
        await EncryptionCodec(Keyring({"new": NEW}, current="new")).decode([sealed])


async def test_failure_messages_travel_sealed() -> None:
    converter = data_converter(Keyring({"k1": OLD}, current="k1"))
    failure = Failure()
    await converter.encode_failure(ValueError("the customer Li Na asked to cancel"), failure)
    assert b"Li Na" not in failure.SerializeToString()
    error = await converter.decode_failure(failure)
    assert "Li Na" in str(error)


async def test_a_converter_rebuilt_per_activation_shares_the_pydantic_converter() -> None:
    """The SDK copies the data converter for every workflow activation; each copy must reuse
    the one pydantic converter, with the type adapters it has built, and still round-trip."""
    converter = data_converter(Keyring({"k1": OLD}, current="k1"))
    copy = dataclasses.replace(converter)
    assert copy.payload_converter is not converter.payload_converter  # the SDK's wrapper
    inner = [c.payload_converter_class() for c in (converter, copy)]
    assert inner[0] is inner[1]
    request = CancelRequest(reason="moved house", by="support@shop")
    (payload,) = await copy.encode([request])
    assert await converter.decode([payload], [CancelRequest]) == [request]
