"""Refunds while the order runs: by lines, by amount, everything left, goodwill; each
checked before anything moves, made once whatever the repeats, parked for finance when the
provider fails, and settling a held order whose parcel came back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.inventory import InventoryActivities
from activities.payments import PaymentActivities
from domain.messages import OrderPackages, OrderPolicy, RefundRequest, StockRequest
from domain.order import OrderStatus
from domain.refunds import RefundKind, RefundOrder, RefundStatus
from domain.rules import ChannelRules
from domain.shipping import TrackingStage
from tests.workflows.phases.support import (
    SKU,
    TOTAL,
    FakeActivities,
    PlacedOrder,
    Shop,
    notes,
    order_input,
)

S = OrderStatus


def ask(request_id: str = "r1", **measure: object) -> RefundOrder:
    return RefundOrder.model_validate(
        {"request_id": request_id, "reason": "damaged", "by": "support:ana", **measure}
    )


async def delivered(shop: Shop, policy: OrderPolicy | None = None) -> PlacedOrder:
    order = await shop.place_paid(order_input(policy=policy) if policy else None)
    await order.carrier_reports(TrackingStage.DELIVERED)
    await order.wait_for(S.DELIVERED)
    return order


async def refused(order: PlacedOrder, refund: RefundOrder) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as refusal:
        await order.refund(refund)
    assert isinstance(refusal.value.cause, ApplicationError)
    return refusal.value.cause


async def test_refunding_a_delivered_line_then_confirming_completes_the_order(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await delivered(shop)

    answer = await order.refund(ask(lines=[{"sku": SKU, "quantity": 1}]))

    assert (answer.status, answer.amount, answer.currency) == (RefundStatus.REFUNDED, 1_800, "usd")
    assert answer.note == "refunded 18.00 USD (1 × TEA-001): damaged (by support:ana)"
    assert fakes.calls_to(PaymentActivities.refund_at_provider) == [
        RefundRequest(
            order_id=order.order_id,
            payment_intent_id=order.payment.payment_intent_id,
            amount=1_800,
            reason="damaged",
            purpose="refund-r1",
            currency="usd",
            by="support:ana",
            units={SKU: 1},
        )
    ]
    # The provider was asked once the update was recorded: a regular activity.
    assert await order.through_server() == ["refund_at_provider"]
    [recorded] = fakes.calls_to(PaymentActivities.record_refund)
    assert recorded.request.purpose == "refund-r1"
    snapshot = await order.wait_for(S.PARTIALLY_REFUNDED)
    assert snapshot.refunded == 1_800

    await order.confirm_receipt("customer:c-1")
    ended = await order.outcome()
    assert [status for status, _ in notes(ended)][-3:] == [
        S.DELIVERED, S.PARTIALLY_REFUNDED, S.COMPLETED
    ]  # fmt: skip


async def test_refunding_what_is_left_ends_the_order_refunded_without_waiting(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await delivered(shop)
    await order.refund(ask("r1", amount=600))

    answer = await order.refund(ask("r2"))  # everything left

    assert answer.amount == TOTAL - 600
    ended = await order.outcome()
    assert ended.status == S.REFUNDED and ended.refunded == TOTAL
    assert notes(ended)[-1] == (
        S.REFUNDED, "refunded 30.00 USD (everything left): damaged (by support:ana)"
    )  # fmt: skip
    # No confirmation for an order refunded in full.
    assert fakes.calls_to(PaymentActivities.refund_at_provider)[-1].amount == TOTAL - 600
    assert "record_confirmation" not in fakes.names()


async def test_the_same_request_refunds_once(shop: Shop, fakes: FakeActivities) -> None:
    order = await delivered(shop)
    first = await order.refund(ask("same", amount=1_000))
    again = await order.refund(ask("same", amount=1_000))

    assert again == first
    assert len(fakes.calls_to(PaymentActivities.refund_at_provider)) == 1


@pytest.mark.parametrize(
    ("measure", "reason"),
    [
        ({"lines": [{"sku": SKU, "quantity": 3}]}, "3 × TEA-001 asked; 2 can be refunded"),
        ({"lines": [{"sku": "GIFT-9", "quantity": 1}]}, "GIFT-9 is not in this order"),
        ({"amount": TOTAL + 1}, "36.01 USD asked; 36.00 USD is left to refund"),
        ({"amount": 100, "currency": "eur"}, "the order was paid in USD"),
    ],
    ids=["more-than-delivered", "not-in-the-order", "more-than-paid", "another-currency"],
)
async def test_a_refund_that_cannot_be_made_is_refused_and_nothing_moves(
    shop: Shop, fakes: FakeActivities, measure: dict[str, object], reason: str
) -> None:
    order = await delivered(shop)

    refusal = await refused(order, ask(**measure))

    assert refusal.type == "ActionRefused" and reason in refusal.message
    assert fakes.calls_to(PaymentActivities.refund_at_provider) == []
    assert (await order.snapshot()).status == S.DELIVERED


async def test_a_line_refunded_once_cannot_be_refunded_again(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await delivered(shop)
    await order.refund(ask("r1", lines=[{"sku": SKU, "quantity": 1}]))

    refusal = await refused(order, ask("r2", lines=[{"sku": SKU, "quantity": 2}]))

    assert "2 × TEA-001 asked; 1 can be refunded" in refusal.message
    assert len(fakes.calls_to(PaymentActivities.refund_at_provider)) == 1


async def test_support_above_its_limit_is_forbidden(shop: Shop, fakes: FakeActivities) -> None:
    order = await delivered(shop)

    refusal = await refused(order, ask(amount=1_500, limit=1_000))

    assert refusal.type == "Forbidden" and "finance refunds it" in refusal.message
    assert fakes.calls_to(PaymentActivities.refund_at_provider) == []


async def test_nothing_shipped_means_cancel_not_refund(shop: Shop, fakes: FakeActivities) -> None:
    order = await shop.place_paid()

    refusal = await refused(order, ask(amount=100))

    assert "nothing has shipped: cancel it" in refusal.message
    assert fakes.calls_to(PaymentActivities.refund_at_provider) == []
    cancelled = await order.cancel("as support said")  # what the refusal advised
    assert cancelled.status == S.CANCELLED


async def test_after_the_refund_window_only_goodwill_is_possible(
    shop: Shop, fakes: FakeActivities
) -> None:
    policy = OrderPolicy(
        stock=ChannelRules(refund_window=timedelta(hours=1)),
        confirmation_window=timedelta(days=3),
    )
    order = await delivered(shop, policy)
    await shop.env.sleep(timedelta(hours=2))

    refusal = await refused(order, ask("late", lines=[{"sku": SKU, "quantity": 1}]))
    assert "the refund window ended" in refusal.message

    answer = await order.refund(ask("gesture", amount=500, kind=RefundKind.GOODWILL))
    assert answer.status == RefundStatus.REFUNDED
    assert answer.note == "refunded 5.00 USD (goodwill): damaged (by support:ana)"


async def test_a_refund_the_provider_keeps_failing_is_parked_then_made_once_when_asked_again(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await delivered(shop)
    fakes.refund_failures = 4  # every try of the first request

    parked = await order.refund(ask("flaky", amount=1_000))

    assert parked.status == RefundStatus.PARKED
    [parking] = fakes.calls_to(PaymentActivities.park_refund)
    assert parking.refund.purpose == "refund-flaky" and "timed out" in parking.problem
    snapshot = await order.snapshot()
    assert snapshot.status == S.DELIVERED and snapshot.refunded == 0

    made = await order.refund(ask("flaky", amount=1_000))  # finance asks again

    assert made.status == RefundStatus.REFUNDED
    tries = fakes.calls_to(PaymentActivities.refund_at_provider)
    assert len(tries) == 5 and {t.purpose for t in tries} == {"refund-flaky"}
    assert (await order.wait_for(S.PARTIALLY_REFUNDED)).refunded == 1_000


async def test_a_refund_settles_a_held_order_whose_parcel_came_back(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()
    await order.carrier_reports(TrackingStage.PICKED_UP)
    await order.wait_for(S.FULFILLING)
    await order.carrier_reports(TrackingStage.RETURNED)
    await order.wait_for(S.ON_HOLD)

    # A gesture does not settle it: the units that came back are not refunded yet.
    await order.refund(ask("gesture", amount=100, kind=RefundKind.GOODWILL))
    still = await order.snapshot()
    assert still.status == S.ON_HOLD and fakes.calls_to(InventoryActivities.release_stock) == []

    answer = await order.refund(ask())  # everything left

    assert answer.amount == TOTAL - 100
    ended = await order.outcome()
    assert [status for status, _ in notes(ended)][-3:] == [S.ON_HOLD, S.ON_HOLD, S.REFUNDED]
    assert fakes.calls_to(InventoryActivities.release_stock) == [
        StockRequest(order_id=order.order_id)
    ]
    assert fakes.calls_to(InventoryActivities.restock_returned) == [
        OrderPackages(order_id=order.order_id, packages=[1])
    ]
    assert ended.hold_reason is None
