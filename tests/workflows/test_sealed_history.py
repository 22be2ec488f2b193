"""What the Temporal server keeps of an order is sealed: its history, read without the
keyring, holds no customer ID, no cancellation reason and no payment client secret, and
with the keyring every payload opens. The client secret is not in it even then: the
workflow never holds it."""

from __future__ import annotations

import uuid

from temporalio.api.common.v1 import Payload

from domain.contract import order_workflow_id
from integrations.temporal_codec import ENCODING, EncryptionCodec
from tests.conftest import KEYRING, Stack
from tests.helpers import order_body
from tests.workflows.sealed_payloads import bytes_without_search_attributes, payloads_in


async def test_an_orders_history_is_sealed_and_opens_with_the_keyring(stack: Stack) -> None:
    customer_id = f"c-sealed-{uuid.uuid4().hex[:8]}"
    reason = f"customer moved to {uuid.uuid4().hex[:6]} Secret Lane"
    body = order_body(customer={"id": customer_id, "email": "li.na@example.com", "name": "Li Na"})
    placed = await stack.api.post("/orders", json=body)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    client_secret = order["payment"]["client_secret"]
    assert client_secret
    cancelled = await stack.api.post(f"/orders/{order['id']}/cancel", json={"reason": reason})
    assert cancelled.status_code == 200, cancelled.text
    handle = stack.client.get_workflow_handle(order_workflow_id(order["id"]))
    await handle.result()

    history = await handle.fetch_history()
    stored = bytes_without_search_attributes(history)
    for clear in (customer_id, reason, client_secret, "Li Na"):
        assert clear.encode() not in stored
    payloads = [p for event in history.events for p in payloads_in(event)]
    sealed = [p for p in payloads if p.metadata.get("encoding") == ENCODING]
    assert sealed and all(
        p.metadata["encryption-key-id"] == KEYRING.current.encode() for p in sealed
    )

    opened = await EncryptionCodec(KEYRING).decode(sealed)
    everything = b" ".join(p.data for p in opened)
    assert customer_id.encode() in everything
    assert reason.encode() in everything
    assert client_secret.encode() not in everything
    assert all(isinstance(p, Payload) and p.metadata.get("encoding") != ENCODING for p in opened)
