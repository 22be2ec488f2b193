"""The payment's client secret lets whoever holds it pay, so the workflow never holds it: the
API answers it from the payments table, while the workflow answers everything else."""

from __future__ import annotations

from domain.contract import OrderQuery, order_workflow_id
from domain.messages import OrderSnapshot
from tests.conftest import Stack
from tests.helpers import place_order


async def test_the_api_answers_the_client_secret_from_the_database(stack: Stack) -> None:
    placed = await place_order(stack.api)
    secret = placed["payment"]["client_secret"]
    assert secret and secret.startswith(placed["payment"]["payment_intent_id"])

    read = await stack.api.get(f"/orders/{placed['id']}")
    assert read.status_code == 200, read.text
    assert read.json()["source"] == "live"
    assert read.json()["payment"]["client_secret"] == secret

    handle = stack.client.get_workflow_handle(order_workflow_id(placed["id"]))
    snapshot = await handle.query(OrderQuery.STATUS, result_type=OrderSnapshot)
    assert snapshot.payment is not None
    assert "client_secret" not in snapshot.payment.model_dump()
    assert secret not in snapshot.model_dump_json()
