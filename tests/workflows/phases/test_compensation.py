"""Compensation: cancelling gives back what the provider really captured, in its currency,
releases the stock and restocks what the carrier brought back."""

from __future__ import annotations

import pytest

from activities.inventory import InventoryActivities
from activities.payments import PaymentActivities
from activities.shipments import ShipmentActivities
from domain.messages import OrderPackages, RefundRequest, StockRequest
from domain.order import OrderStatus
from domain.shipping import TrackingStage
from tests.workflows.phases.support import TOTAL, FakeActivities, Shop, notes

S = OrderStatus


@pytest.mark.parametrize(
    ("amount", "currency", "held_for", "refunded"),
    [
        (500_000, "usd", "paid 500000, order total is 3600", "5,000.00 USD"),
        (3_600, "eur", "paid in EUR, order is in USD", "36.00 EUR"),
    ],
    ids=["five-thousand-on-a-36-order", "paid-in-euros"],
)
async def test_a_mismatched_payment_is_held_and_cancelling_refunds_what_was_captured(
    shop: Shop, fakes: FakeActivities, amount: int, currency: str, held_for: str, refunded: str
) -> None:
    order = await shop.place()
    fakes.pay(amount, currency)
    await order.notify_payment()
    held = await order.wait_for(S.ON_HOLD)
    assert held.hold_reason == held_for
    assert fakes.calls_to(PaymentActivities.refund_payment) == []

    answer = await order.cancel("mismatch")

    assert answer == await order.outcome()
    assert notes(answer)[-1] == (S.CANCELLED, f"cancelled: mismatch; refunded {refunded}")
    assert fakes.calls_to(PaymentActivities.refund_payment) == [
        RefundRequest(
            order_id=order.order_id,
            payment_intent_id=order.payment.payment_intent_id,
            amount=amount,
            reason="mismatch",
            purpose="cancel",
        )
    ]
    assert fakes.calls_to(InventoryActivities.release_stock) == [
        StockRequest(order_id=order.order_id)
    ]


async def test_cancelling_before_any_pickup_stops_the_shipment_refunds_and_releases(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()

    answer = await order.cancel("changed my mind")

    assert answer == await order.outcome()
    assert len(fakes.calls_to(ShipmentActivities.void_label)) == 1  # the parcel never leaves
    # The void, the cancellation's first step, waited until the update was on record.
    assert await order.through_server() == ["void_label"]
    assert fakes.calls_to(ShipmentActivities.hand_over) == []
    assert notes(answer)[-1] == (S.CANCELLED, "cancelled: changed my mind; refunded 36.00 USD")
    assert [(r.amount, r.purpose) for r in fakes.calls_to(PaymentActivities.refund_payment)] == [
        (TOTAL, "cancel")
    ]
    assert fakes.calls_to(InventoryActivities.release_stock) == [
        StockRequest(order_id=order.order_id)
    ]
    assert fakes.calls_to(InventoryActivities.restock_returned) == []


async def test_a_returned_parcel_holds_the_order_and_cancelling_refunds_and_restocks(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()
    await order.carrier_reports(TrackingStage.PICKED_UP)
    await order.wait_for(S.FULFILLING)

    await order.carrier_reports(TrackingStage.RETURNED)
    held = await order.wait_for(S.ON_HOLD)
    assert held.hold_reason == "package 1 returned: the carrier returned the parcel"
    assert fakes.calls_to(PaymentActivities.refund_payment) == []

    answer = await order.cancel("parcel came back")

    assert answer == await order.outcome()
    assert notes(answer)[-1] == (S.CANCELLED, "cancelled: parcel came back; refunded 36.00 USD")
    assert [r.amount for r in fakes.calls_to(PaymentActivities.refund_payment)] == [TOTAL]
    assert fakes.calls_to(InventoryActivities.restock_returned) == [
        OrderPackages(order_id=order.order_id, packages=[1])
    ]
    # In reverse: the money, then the stock, then what came back onto the shelf.
    undo = ["refund_payment", "release_stock", "restock_returned"]
    assert [name for name in fakes.names() if name in undo] == undo
