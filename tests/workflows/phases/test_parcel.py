"""The parcel an order of one package runs itself: the warehouse scans into it and the carrier
reports on it through the order's own update and signal, and its clocks reach the order
without a workflow in between. Scans may race each other and the carrier's reports."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.shipments import ShipmentActivities
from domain.contract import SLA_LEVEL
from domain.order import OrderStatus
from domain.shipping import ScanProgress, TrackingStage
from domain.sla import SlaLevel
from tests.workflows.phases.support import SKU, FakeActivities, PlacedOrder, Shop

S = OrderStatus


async def refusal(scanning: Awaitable[ScanProgress]) -> str:
    """The message a refused scan is answered with."""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await scanning
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ScanRefused"
    return cause.message


async def scanned_or_refused(order: PlacedOrder, quantity: int) -> ScanProgress | str:
    try:
        return await order.scan(quantity)
    except WorkflowUpdateFailedError as error:
        assert isinstance(error.cause, ApplicationError) and error.cause.type == "ScanRefused"
        return error.cause.message


async def test_scans_are_checked_against_the_package_and_the_last_one_packs_it(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()

    wrong = await refusal(order.scan(1, sku="MOON-003"))
    package = f"package 1 of order {order.order_id}"
    assert wrong == f"MOON-003 does not belong in {package}; it holds 2 × {SKU}"
    first = await order.scan(1)
    assert (first.scanned, first.packed) == ({SKU: 1}, False)
    assert "2 more is too many" in await refusal(order.scan(2))
    last = await order.scan(1)
    assert (last.scanned, last.packed) == ({SKU: 2}, True)

    stamps = fakes.calls_to(ShipmentActivities.stamp_warehouse)
    assert [stamp.step for stamp in stamps] == ["pick_started", "packed"]
    assert (await order.snapshot()).status == S.ALLOCATED  # packing is not leaving


async def test_a_scan_for_a_package_the_order_does_not_have_is_refused(shop: Shop) -> None:
    order = await shop.place_paid()
    message = await refusal(order.scan(1, package=2))
    assert message == f"no package 2 of order {order.order_id} is being shipped"


async def test_two_scans_of_the_whole_package_at_once_count_once(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()

    answers = await asyncio.gather(scanned_or_refused(order, 2), scanned_or_refused(order, 2))

    counted = [a for a in answers if isinstance(a, ScanProgress)]
    refused = [a for a in answers if isinstance(a, str)]
    assert len(counted) == 1 and counted[0].packed, answers
    assert len(refused) == 1 and "is too many" in refused[0], answers
    packed = [s for s in fakes.calls_to(ShipmentActivities.stamp_warehouse) if s.step == "packed"]
    assert len(packed) == 1


async def test_a_scan_racing_the_pickup_counts_before_it_or_is_refused_after_it(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()

    scan, _ = await asyncio.gather(
        scanned_or_refused(order, 2), order.carrier_reports(TrackingStage.PICKED_UP)
    )
    await order.wait_for(S.FULFILLING)

    stamps = fakes.calls_to(ShipmentActivities.stamp_warehouse)
    if isinstance(scan, ScanProgress):
        assert scan.packed and [s.step for s in stamps] == ["pick_started", "packed"]
    else:
        assert scan.endswith("is already with the carrier") and stamps == []
    # Either way the carrier has it now: another scan is refused, the stock left once.
    assert (await refusal(order.scan(1))).endswith("is already with the carrier")
    assert len(fakes.calls_to(ShipmentActivities.hand_over)) == 1
    await order.carrier_reports(TrackingStage.DELIVERED)
    await order.wait_for(S.DELIVERED)
    await order.confirm_receipt()
    await order.outcome()


async def test_a_report_repeated_by_the_carrier_hands_the_parcel_over_once(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()

    for _ in range(3):
        await order.carrier_reports(TrackingStage.PICKED_UP, event_id="evt-1")
    await order.carrier_reports(TrackingStage.IN_TRANSIT)
    await order.carrier_reports(TrackingStage.DELIVERED)
    await order.wait_for(S.DELIVERED)

    assert len(fakes.calls_to(ShipmentActivities.hand_over)) == 1
    stamped = [stamp.stage for stamp in fakes.calls_to(ShipmentActivities.stamp_stage)]
    # The hand-over stamps the pickup itself.
    assert stamped == [TrackingStage.IN_TRANSIT, TrackingStage.DELIVERED]
    await order.confirm_receipt()
    await order.outcome()


async def test_a_parcel_not_picked_up_in_time_raises_the_orders_sla_level(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()

    await shop.env.sleep(timedelta(days=3))  # past the channel's ship-by deadline

    levels = [breach.level for breach in fakes.calls_to(ShipmentActivities.raise_sla_alert)]
    assert levels == [SlaLevel.YELLOW, SlaLevel.RED]
    described = await order.handle.describe()
    assert described.typed_search_attributes.get(SLA_LEVEL) == SlaLevel.RED
