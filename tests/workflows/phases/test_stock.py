"""Stock: reserved at intake, at payment or for a while, as the channel says; an order without
stock is refused with its payment cancelled, and a paid one is refunded or held."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from activities.inventory import InventoryActivities
from activities.orders import OrderActivities
from activities.payments import PaymentActivities
from domain.contract import ORDER_STATUS, OrderUpdate, WorkflowName, order_workflow_id
from domain.messages import OrderPolicy, OrderSnapshot, PaymentView, StockRequest
from domain.order import OrderStatus
from domain.rules import ChannelRules, LockStrategy, ShortageAction
from tests.workflows.phases.support import (
    SKU,
    TOTAL,
    WAREHOUSE,
    FakeActivities,
    PlacedOrder,
    Shop,
    notes,
    order_input,
    search_attributes,
)

S = OrderStatus


def at_payment(on_shortage: ShortageAction) -> OrderPolicy:
    return OrderPolicy(stock=ChannelRules(lock=LockStrategy.AT_PAYMENT, on_shortage=on_shortage))


async def test_no_stock_at_intake_refuses_the_order_and_cancels_its_payment(
    shop: Shop, fakes: FakeActivities
) -> None:
    fakes.units_in_stock = 0
    order = order_input()
    shop.remember(order)
    # As intake asks: start and wait for the payment details in one call, so the answer
    # can't miss an order that ends in its first steps.
    start = WithStartWorkflowOperation(
        WorkflowName.ORDER,
        order,
        id=order_workflow_id(order.order_id),
        task_queue=shop.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=search_attributes(order),
        result_type=OrderSnapshot,
    )

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await shop.env.client.execute_update_with_start_workflow(
            OrderUpdate.PAYMENT_DETAILS, start_workflow_operation=start, result_type=PaymentView
        )

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "OutOfStock"
    ended = await (await start.workflow_handle()).result()
    assert ended.status == S.CANCELLED
    assert notes(ended)[-1] == (S.CANCELLED, f"out of stock: {SKU} short by 2")
    # The payment created meanwhile can no longer be paid; the stock step reserved nothing
    # (it plans before it takes), so nothing is released.
    [cancelled] = fakes.calls_to(PaymentActivities.cancel_payment)
    assert cancelled.payment_intent_id == f"pi_{order.order_id}"
    assert len(fakes.calls_to(InventoryActivities.plan_and_reserve)) == 1
    assert fakes.calls_to(InventoryActivities.release_stock) == []


async def test_intake_plans_and_reserves_the_order_in_one_step(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place()

    [request] = fakes.calls_to(InventoryActivities.plan_and_reserve)
    assert (request.order_id, request.round) == (order.order_id, 1)
    assert [(line.sku, line.quantity) for line in request.lines] == [(SKU, 2)]
    snapshot = await order.snapshot()
    assert snapshot.status == S.PENDING_PAYMENT
    [package] = snapshot.packages
    assert (package.warehouse, [(line.sku, line.quantity) for line in package.lines]) == (
        WAREHOUSE,
        [(SKU, 2)],
    )
    await order.cancel()


async def test_a_channel_locking_at_payment_reserves_once_paid(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place(order_input(policy=at_payment(ShortageAction.REFUND)))
    assert fakes.calls_to(InventoryActivities.plan_and_reserve) == []

    fakes.pay()
    await order.notify_payment()
    allocated = await order.wait_for(S.ALLOCATED, "ships in 1 package")

    assert len(fakes.calls_to(InventoryActivities.plan_and_reserve)) == 1
    [record] = fakes.calls_to(OrderActivities.record_packages)
    assert record.packages == allocated.packages
    assert record.message == f"Your order {order.order_id} ships in 1 package."
    # Reserving could have found no stock: the payment was on record before it began.
    assert record.paid is None
    assert [t.status for t in fakes.calls_to(OrderActivities.record_transition)] == [S.PAID]
    await order.cancel()


async def test_stock_held_since_intake_is_allocated_with_the_payment_in_one_step(
    shop: Shop, fakes: FakeActivities
) -> None:
    """Nothing can come between paid and allocated when the stock was reserved at intake:
    both are written with the packages in one step, and the operators' search attribute goes
    straight to allocated."""
    order = await shop.place_paid()

    [record] = fakes.calls_to(OrderActivities.record_packages)
    assert record.paid is not None
    written = [(record.paid.seq, record.paid.status), (record.transition.seq, S.ALLOCATED)]
    timeline = (await order.snapshot()).timeline
    assert written == [(2, timeline[1].status), (3, timeline[2].status)]
    assert timeline[1].status == S.PAID
    assert fakes.calls_to(OrderActivities.record_transition) == []
    assert await status_upserts(order) == [S.ALLOCATED]
    await order.cancel()


async def status_upserts(order: PlacedOrder) -> list[str]:
    """The ``OrderStatus`` values the order wrote to its search attribute, in order."""
    upserted = []
    async for event in order.handle.fetch_history_events():
        if event.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if ORDER_STATUS.name in fields.indexed_fields:
                upserted.append(json.loads(fields.indexed_fields[ORDER_STATUS.name].data))
    return upserted


async def test_paid_without_stock_on_a_refunding_channel_is_cancelled_and_refunded(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place(order_input(policy=at_payment(ShortageAction.REFUND)))
    fakes.units_in_stock = 0
    fakes.pay()
    await order.notify_payment()

    ended = await order.outcome()

    assert ended.status == S.CANCELLED
    assert notes(ended)[-1] == (
        S.CANCELLED,
        f"cancelled: out of stock: {SKU} short by 2; refunded 36.00 USD",
    )
    assert [(r.amount, r.purpose) for r in fakes.calls_to(PaymentActivities.refund_payment)] == [
        (TOTAL, "cancel")
    ]
    assert fakes.calls_to(InventoryActivities.release_stock) == [
        StockRequest(order_id=order.order_id)
    ]


async def test_paid_without_stock_on_a_holding_channel_waits_for_a_person(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place(order_input(policy=at_payment(ShortageAction.HOLD)))
    fakes.units_in_stock = 0
    fakes.pay()
    await order.notify_payment()

    held = await order.wait_for(S.ON_HOLD)

    assert held.hold_reason == f"paid but out of stock: {SKU} short by 2"
    assert fakes.calls_to(PaymentActivities.refund_payment) == []
    answer = await order.cancel("no stock")
    assert answer.status == S.CANCELLED
    assert [r.amount for r in fakes.calls_to(PaymentActivities.refund_payment)] == [TOTAL]


async def test_a_lapsed_pre_reservation_is_released_and_reserved_anew_once_paid(
    shop: Shop, fakes: FakeActivities
) -> None:
    policy = OrderPolicy(
        stock=ChannelRules(lock=LockStrategy.PRE_RESERVE, reservation_ttl=timedelta(minutes=10))
    )
    order = await shop.place(order_input(channel="flash", policy=policy))

    await shop.env.sleep(timedelta(minutes=11))
    lapsed = await order.wait_for(S.PENDING_PAYMENT, "reservation released")

    assert notes(lapsed)[-1][1] == "unpaid after 10min: reservation released, 2 units back on sale"
    # Only the lapsed round goes back.
    assert fakes.calls_to(InventoryActivities.release_stock) == [
        StockRequest(order_id=order.order_id, round=1)
    ]
    fakes.pay()
    await order.notify_payment()
    await order.wait_for(S.ALLOCATED)
    assert [r.round for r in fakes.calls_to(InventoryActivities.plan_and_reserve)] == [1, 2]
    await order.cancel()
