"""The one way this project connects to Temporal: pydantic payloads, sealed, everywhere.

Here, below both the API and the workers, so the API process connects without loading worker
code.
"""

from __future__ import annotations

from typing import ClassVar

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from config.keyring import Keyring
from config.settings import Settings, keyring_from
from domain.contract import SEARCH_ATTRIBUTES
from integrations.temporal_codec import EncryptionCodec


class SharedPydanticConverter(PydanticPayloadConverter):
    """The process's one pydantic payload converter.

    The SDK builds a data converter, and with it a new payload converter, twice for every
    workflow activation (temporalio 1.35); a new pydantic converter builds a serializer and an
    empty cache of type adapters each time, which was 3 % of the worker's CPU. It holds no
    state but that cache (safe across threads), so one serves every activation and client.
    """

    _one: ClassVar[SharedPydanticConverter | None] = None

    def __new__(cls) -> SharedPydanticConverter:
        if cls._one is None:
            one = super().__new__(cls)
            PydanticPayloadConverter.__init__(one)
            cls._one = one
        return cls._one

    def __init__(self) -> None:
        """Built once, in ``__new__``."""


def data_converter(keyring: Keyring) -> DataConverter:
    """Pydantic payloads sealed with the keyring. Failures' messages and stack traces travel
    as a payload too (sealed with the rest): a refusal's message can quote a customer."""
    return DataConverter(
        payload_converter_class=SharedPydanticConverter,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(keyring_from(settings)),
    )


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    """For servers started without them (the time-skipping test server, a fresh cluster)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES
            },
        )
    )
