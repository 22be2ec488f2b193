"""The one way this project connects to Temporal: pydantic payloads, sealed, everywhere.

Here, below both the API and the workers, so the API process connects without loading worker
code.
"""

from __future__ import annotations

import dataclasses

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from config.keyring import Keyring
from config.settings import Settings, keyring_from
from domain.contract import SEARCH_ATTRIBUTES
from integrations.temporal_codec import EncryptionCodec


def data_converter(keyring: Keyring) -> DataConverter:
    """Pydantic payloads sealed with the keyring. Failures' messages and stack traces travel
    as a payload too (sealed with the rest): a refusal's message can quote a customer."""
    return dataclasses.replace(
        pydantic_data_converter,
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
