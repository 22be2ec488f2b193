"""A carrier exception (lost, damaged, refused, address unknown) puts the order on hold and
alerts support at once; the parcel moving again resumes the order and closes the alert."""

from __future__ import annotations

from datetime import timedelta

from domain.order import OrderStatus
from store.db import SessionFactory
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    T0,
    alerts,
    eventually,
    get_order,
    lines,
    paid_and_labelled,
    report,
    settle,
    shipment_rows,
    stamped,
    two_parcels_picked_up,
    wait_for,
)


async def test_an_exception_holds_the_order_until_the_parcel_moves_again(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id, tracking = order["id"], package["tracking_number"]
    await report(stack, tracking, "picked_up", T0)
    await report(stack, tracking, "in_transit", T0 + timedelta(hours=3))
    await wait_for(stack, order_id, OrderStatus.FULFILLING)

    await report(stack, tracking, "exception", T0 + timedelta(hours=9))
    body = await wait_for(stack, order_id, OrderStatus.ON_HOLD, "reported an exception")
    reason = f"the carrier reported an exception for package 1 ({tracking})"
    assert body["timeline"][-1]["note"] == reason
    [alert] = await alerts(stack, "carrier_exception")
    assert (alert["level"], alert["role"]) == ("red", "support")
    assert alert["subject"] == f"package 1 of order {order_id}"
    assert tracking in alert["message"] and f"/orders/{order_id}" in alert["message"]

    # The same report again, or old ones arriving late, change nothing: not even a stage
    # never seen before, when the carrier reached it before the exception.
    await report(stack, tracking, "exception", T0 + timedelta(hours=9))
    await report(stack, tracking, "in_transit", T0 + timedelta(hours=3), event_id="late-copy")
    await report(stack, tracking, "out_for_delivery", T0 + timedelta(hours=8))
    await settle(stack)
    assert (await get_order(stack, order_id))["status"] == "on_hold"
    assert [a["id"] for a in await alerts(stack, "carrier_exception")] == [alert["id"]]
    assert len(await alerts(stack, "carrier_exception", include_resolved="true")) == 1

    # A later report on the road, even of a stage it had reached: the parcel moves again.
    await report(stack, tracking, "in_transit", T0 + timedelta(hours=20), event_id="resumed")
    await wait_for(stack, order_id, OrderStatus.FULFILLING, "moving the parcels again")
    assert await alerts(stack, "carrier_exception") == []

    await report(stack, tracking, "delivered", T0 + timedelta(hours=30))
    body = await wait_for(stack, order_id, OrderStatus.DELIVERED)
    assert [e["status"] for e in body["timeline"]][-4:] == [
        "fulfilling",
        "on_hold",
        "fulfilling",
        "delivered",
    ]
    [package] = body["packages"]
    assert package["shipment_status"] == "delivered"
    assert "exception" in package["stages"]
    await stack.keep_history(order_id, "carrier_exception_then_delivered")


async def test_a_parcel_delivered_straight_after_an_exception_completes_the_order(
    stack: Stack, localstripe_url: str
) -> None:
    """Even when the carrier's clocks put the delivery a minute before the exception."""
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    order_id, tracking = order["id"], package["tracking_number"]
    await report(stack, tracking, "picked_up", T0 - timedelta(hours=1))
    await report(stack, tracking, "exception", T0)
    await wait_for(stack, order_id, OrderStatus.ON_HOLD)
    await report(stack, tracking, "delivered", T0 - timedelta(minutes=1))
    body = await wait_for(stack, order_id, OrderStatus.DELIVERED)
    assert [e["status"] for e in body["timeline"]][-3:] == ["on_hold", "fulfilling", "delivered"]
    assert await alerts(stack, "carrier_exception") == []


async def test_a_parcel_returned_after_an_exception_stays_on_hold_with_the_reason(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    order_id, tracking = order["id"], package["tracking_number"]
    # The first report: the carrier has the parcel, and it is in trouble already.
    await report(stack, tracking, "exception", T0 + timedelta(hours=5))
    await wait_for(stack, order_id, OrderStatus.ON_HOLD)

    await report(stack, tracking, "returned", T0 + timedelta(days=3))
    body = await wait_for(stack, order_id, OrderStatus.ON_HOLD, "package 1 returned")
    assert body["timeline"][-1]["note"] == "package 1 returned: the carrier returned the parcel"
    assert [e["status"] for e in body["timeline"]][-2:] == ["on_hold", "on_hold"]
    # Support still has the exception to deal with: the parcel is back, not delivered.
    assert len(await alerts(stack, "carrier_exception")) == 1


async def test_a_new_exception_after_the_parcel_moved_on_holds_the_order_again(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    order_id, tracking = order["id"], package["tracking_number"]
    await report(stack, tracking, "picked_up", T0)
    await report(stack, tracking, "exception", T0 + timedelta(hours=2), event_id="first")
    await wait_for(stack, order_id, OrderStatus.ON_HOLD)
    await report(stack, tracking, "in_transit", T0 + timedelta(hours=4))
    await wait_for(stack, order_id, OrderStatus.FULFILLING, "moving the parcels again")

    await report(stack, tracking, "exception", T0 + timedelta(hours=6), event_id="second")
    body = await wait_for(stack, order_id, OrderStatus.ON_HOLD)
    assert [e["status"] for e in body["timeline"]].count("on_hold") == 2
    [row] = shipment_rows(sessions, order_id)
    assert row.status == "exception"  # the health board sees it in trouble again
    assert len(await alerts(stack, "carrier_exception")) == 1
    assert len(await alerts(stack, "carrier_exception", include_resolved="true")) == 2

    await report(stack, tracking, "delivered", T0 + timedelta(hours=9))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)
    assert await alerts(stack, "carrier_exception") == []


async def test_an_exception_older_than_the_parcels_progress_holds_nothing(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """A delayed report of a problem the parcel already moved past."""
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    order_id, tracking = order["id"], package["tracking_number"]
    await report(stack, tracking, "picked_up", T0)
    await report(stack, tracking, "in_transit", T0 + timedelta(hours=5))
    await wait_for(stack, order_id, OrderStatus.FULFILLING)
    await stamped(stack, order_id, 1, "in_transit")

    await report(stack, tracking, "exception", T0 + timedelta(hours=3))
    await stamped(stack, order_id, 1, "exception")  # on the record all the same
    await settle(stack)
    assert (await get_order(stack, order_id))["status"] == "fulfilling"
    [row] = shipment_rows(sessions, order_id)
    assert row.status == "in_transit"
    assert await alerts(stack, "carrier_exception", include_resolved="true") == []
    await report(stack, tracking, "delivered", T0 + timedelta(hours=9))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)


async def test_a_second_parcel_in_trouble_while_on_hold_is_named_and_both_must_move(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id, first, second = await two_parcels_picked_up(stack, localstripe_url)
    await report(stack, first, "exception", T0 + timedelta(hours=2))
    await wait_for(stack, order_id, OrderStatus.ON_HOLD, "package 1")
    await report(stack, second, "exception", T0 + timedelta(hours=3))
    body = await wait_for(stack, order_id, OrderStatus.ON_HOLD, "package 2")
    assert body["timeline"][-1]["note"] == (
        f"the carrier reported an exception for package 1 ({first}); "
        f"the carrier reported an exception for package 2 ({second})"
    )

    await report(stack, first, "in_transit", T0 + timedelta(hours=5))
    only_second = f"the carrier reported an exception for package 2 ({second})"

    async def noted() -> bool:
        body = await get_order(stack, order_id)
        return body["status"] == "on_hold" and body["timeline"][-1]["note"] == only_second

    await eventually(stack, noted, "a note that only package 2 is in trouble")
    await report(stack, second, "in_transit", T0 + timedelta(hours=6))
    await wait_for(stack, order_id, OrderStatus.FULFILLING, "moving the parcels again")
    rows = {r.package: r for r in shipment_rows(sessions, order_id)}
    assert (rows[1].status, rows[1].resumed_at) == ("in_transit", T0 + timedelta(hours=5))

    for tracking in (first, second):
        await report(stack, tracking, "delivered", T0 + timedelta(hours=9))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)
