"""The edges where two after-sales changes meet: each a reproduction of a defect found by
review, kept so it stays fixed. Through the API, with the real worker, database, carrier
and localstripe."""

from __future__ import annotations

from datetime import timedelta

from domain.access import Role
from domain.contract import order_workflow_id
from domain.order import OrderStatus
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory
from tests.api.test_address_changes import carrier_reports, move
from tests.api.test_exchanges import exchange, inspected, replacement_delivered, rma_note
from tests.api.test_refunds import at_provider, delivered_order, refund
from tests.api.test_returns import inspect, open_return, scan
from tests.conftest import Stack
from tests.helpers import pay
from tests.workflows.shipping_support import (
    T0,
    alerts,
    eventually,
    lines,
    paid_and_labelled,
    stock,
    wait_for,
)

S = OrderStatus


async def test_a_unit_refunded_by_lines_while_on_its_way_back_is_not_refunded_again(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]  # 2 × TEA at 18.00
    rma = (await open_return(stack, order_id, TEA_001=1)).json()["rma"]
    made = await refund(stack, order_id, lines=[{"sku": "TEA-001", "quantity": 2}])
    assert made.status_code == 201, made.text
    await scan(stack, rma, "TEA-001")

    passed = await inspected(stack, rma)

    assert passed["status"] == "passed"
    assert at_provider(payments, sessions, order_id) == [3_600]  # once, by the lines


async def test_a_paid_difference_is_given_back_when_the_exchange_fails_inspection(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    body = (await exchange(stack, order_id, {"TEA-001": 1}, {"CUP-002": 1})).json()
    intent = body["payment"]["payment_intent_id"]
    assert pay(localstripe_url, intent) == "succeeded"
    await scan(stack, body["rma"], "TEA-001")

    failed = await inspect(stack, body["rma"], "fail", "scratched")

    assert failed.status_code == 200, failed.text
    listed = payments.client.v1.refunds.list({"payment_intent": intent})
    assert [r.amount for r in listed.data if r.payment_intent == intent] == [600]


async def test_a_delivered_replacement_of_another_sku_can_be_returned(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    body = (await exchange(stack, order_id, {"TEA-001": 2}, {"CUP-002": 1})).json()
    await scan(stack, body["rma"], "TEA-001", 2)
    await inspected(stack, body["rma"])
    await replacement_delivered(stack, order_id, 101)
    await rma_note(stack, order_id, "replacement delivered")

    again = await open_return(stack, order_id, CUP_002=1)

    assert again.status_code == 201, again.text
    assert again.json()["lines"] == [{"sku": "CUP-002", "quantity": 1}]


async def test_a_return_that_could_not_start_frees_its_number_and_its_stock(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    from api.errors import ServiceUnavailable
    from api.temporal import OrderWorkflows

    order_id = (await delivered_order(stack, localstripe_url))["id"]
    before = stock(sessions, "CUP-002", "HZ")
    real = OrderWorkflows.open_return
    calls = {"n": 0}

    async def away_once(self: OrderWorkflows, rma: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ServiceUnavailable("workflow service: down")
        return await real(self, rma)  # type: ignore[arg-type]

    OrderWorkflows.open_return = away_once  # type: ignore[method-assign,assignment]
    try:
        first = await exchange(stack, order_id, {"TEA-001": 1}, {"CUP-002": 1})
        assert first.status_code == 503
        assert stock(sessions, "CUP-002", "HZ") == before  # nothing held for it
        second = await exchange(stack, order_id, {"TEA-001": 1}, {"CUP-002": 1})
    finally:
        OrderWorkflows.open_return = real  # type: ignore[method-assign]

    assert second.status_code == 201, second.text
    assert second.json()["rma"].endswith("-2")  # a number of its own
    assert stock(sessions, "CUP-002", "HZ")[1] == before[1] + 1
    rows = (await stack.api.get(f"/orders/{order_id}/returns")).json()
    assert [row["status"] for row in rows] == ["abandoned", "open"]


async def test_an_address_exception_still_goes_red_after_the_order_completed(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    tracking = package["tracking_number"]
    await carrier_reports(stack, tracking, "picked_up", T0)
    await carrier_reports(stack, tracking, "out_for_delivery", T0 + timedelta(hours=5))
    await wait_for(stack, order["id"], S.FULFILLING)
    assert (await move(stack, order["id"])).json()["status"] == "needs_person"
    await carrier_reports(stack, tracking, "delivered", T0 + timedelta(hours=6))
    await wait_for(stack, order["id"], S.DELIVERED)
    await stack.api.post(f"/orders/{order['id']}/confirm-receipt", json={})
    await wait_for(stack, order["id"], S.COMPLETED)

    await stack.env.sleep(timedelta(hours=3))

    async def red() -> bool | None:
        [alert] = await alerts(stack, "address")
        return True if alert["level"] == "red" else None

    await eventually(stack, red, "the exception to go red")


async def test_a_return_with_a_long_reason_is_refunded_by_the_running_order(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    opened = await stack.api.post(
        f"/orders/{order_id}/returns",
        json={"lines": [{"sku": "TEA-001", "quantity": 1}], "reason": "x" * 495},
        headers=stack.as_role(Role.CUSTOMER, "c-42"),
    )
    assert opened.status_code == 201, opened.text
    await scan(stack, opened.json()["rma"], "TEA-001")
    await inspected(stack, opened.json()["rma"])

    await wait_for(stack, order_id, S.PARTIALLY_REFUNDED)
    assert at_provider(payments, sessions, order_id) == [1_800]
    failed = [
        event
        async for event in stack.client.get_workflow_handle(
            order_workflow_id(order_id)
        ).fetch_history_events()
        if event.HasField("workflow_task_failed_event_attributes")
    ]
    assert failed == []
