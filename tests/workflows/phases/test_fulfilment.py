"""Fulfilment: the order runs its one package's parcel itself; the first pickup makes the
order fulfilling and too late to cancel; a carrier exception holds it until the parcel moves
again."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.inventory import InventoryActivities
from activities.payments import PaymentActivities
from activities.shipments import ShipmentActivities
from domain.order import OrderStatus
from domain.shipping import TrackingStage
from tests.workflows.phases.support import FakeActivities, Shop, notes

S = OrderStatus


async def test_a_cancel_after_a_pickup_is_refused_and_the_order_goes_on(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()
    await order.carrier_reports(TrackingStage.PICKED_UP)
    await order.wait_for(S.FULFILLING, "shipped with sandbox (SF1)")

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await order.cancel("too late")

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ActionRefused"
    assert "ask for a return instead" in cause.message
    assert (await order.snapshot()).status == S.FULFILLING
    assert fakes.calls_to(PaymentActivities.refund_payment) == []
    assert fakes.calls_to(InventoryActivities.release_stock) == []

    await order.carrier_reports(TrackingStage.DELIVERED)
    await order.wait_for(S.DELIVERED)
    await order.confirm_receipt()
    ended = await order.outcome()
    assert [status for status, _ in notes(ended)] == [
        S.PENDING_PAYMENT, S.PAID, S.ALLOCATED, S.FULFILLING, S.DELIVERED, S.COMPLETED
    ]  # fmt: skip
    assert fakes.calls_to(PaymentActivities.refund_payment) == []


async def test_a_carrier_exception_holds_the_order_until_the_parcel_moves_again(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()
    await order.carrier_reports(TrackingStage.PICKED_UP)
    await order.wait_for(S.FULFILLING)

    await order.carrier_reports(TrackingStage.EXCEPTION)
    held = await order.wait_for(S.ON_HOLD)
    assert held.hold_reason == "the carrier reported an exception for package 1 (SF1)"
    assert notes(held)[-1] == (S.ON_HOLD, held.hold_reason)

    await order.carrier_reports(TrackingStage.IN_TRANSIT)
    moving = await order.wait_for(S.FULFILLING, "moving the parcels again")
    assert moving.hold_reason is None

    await order.carrier_reports(TrackingStage.DELIVERED)
    delivered = await order.wait_for(S.DELIVERED, "delivered: 1 package")
    assert [status for status, _ in notes(delivered)][3:] == [
        S.FULFILLING, S.ON_HOLD, S.FULFILLING, S.DELIVERED
    ]  # fmt: skip
    await order.confirm_receipt()
    assert (await order.outcome()).status == S.COMPLETED
    assert fakes.calls_to(PaymentActivities.refund_payment) == []


async def test_a_parcel_delivered_without_a_pickup_report_still_passes_through_fulfilling(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()

    await order.carrier_reports(TrackingStage.DELIVERED)
    delivered = await order.wait_for(S.DELIVERED)

    # The delivery means the carrier had it: the stock leaves, the pickup is stamped.
    assert len(fakes.calls_to(ShipmentActivities.hand_over)) == 1
    assert notes(delivered)[-2:] == [
        (S.FULFILLING, "shipped with sandbox (SF1)"),
        (S.DELIVERED, "delivered: 1 package"),
    ]
    await order.confirm_receipt()
    await order.outcome()
