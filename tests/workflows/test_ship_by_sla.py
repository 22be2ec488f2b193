"""Ship-by deadlines: a paid order's parcels must reach the carrier in time for its channel;
late ones raise yellow, then red, alerts for the warehouse and mark the order's SlaLevel."""

from __future__ import annotations

from datetime import timedelta

from domain.order import OrderStatus
from tests.conftest import Stack
from tests.helpers import place_order
from tests.workflows.shipping_support import (
    get_order,
    labelled,
    lines,
    pay_and_notify,
    report,
    sla_alerts,
    sla_level,
    wait_for,
    when,
)


async def express_order(stack: Stack, localstripe_url: str) -> tuple[str, str]:
    """Channel "express" ships within 2 hours of payment (the test merchant's rules)."""
    order = await place_order(stack.api, channel="express", lines=lines(TEA_001=1))
    await pay_and_notify(stack, localstripe_url, order)
    await wait_for(stack, order["id"], OrderStatus.ALLOCATED)
    [package] = await labelled(stack, order["id"])
    return order["id"], package["tracking_number"]


async def test_a_parcel_not_picked_up_in_time_warns_at_75_percent_and_alarms_at_the_deadline(
    stack: Stack, localstripe_url: str
) -> None:
    order_id, tracking = await express_order(stack, localstripe_url)
    paid_at = when(next(e["at"] for e in (await get_order(stack, order_id))["timeline"]
                        if e["status"] == "paid"))  # fmt: skip

    await stack.env.sleep(timedelta(hours=1, minutes=28))
    assert await sla_alerts(stack) == []
    await stack.env.sleep(timedelta(minutes=3))  # past 1 h 30 min: 75 % of 2 h
    [yellow] = await sla_alerts(stack)
    assert (yellow["level"], yellow["role"]) == ("yellow", "warehouse")
    assert yellow["subject"] == f"package 1 of order {order_id}"
    assert f"/orders/{order_id}" in yellow["message"]
    assert (paid_at + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M") in yellow["message"]
    assert await sla_level(stack, order_id) == "yellow"

    await stack.env.sleep(timedelta(minutes=31))  # past the 2 h deadline
    alerts = await sla_alerts(stack)
    assert [a["level"] for a in alerts] == ["red", "yellow"]
    assert "missed its ship-by deadline" in alerts[0]["message"]
    assert await sla_level(stack, order_id) == "red"

    # The carrier finally takes it: the alerts close; the parcel travels on to the customer.
    await report(stack, tracking, "picked_up", paid_at + timedelta(hours=2, minutes=10))
    await wait_for(stack, order_id, OrderStatus.FULFILLING)
    assert await sla_alerts(stack) == []
    assert len(await sla_alerts(stack, include_resolved="true")) == 2
    await report(stack, tracking, "delivered", paid_at + timedelta(hours=20))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)
    await stack.keep_history(order_id, "parcel_late_for_pickup_yellow_then_red")


async def test_a_parcel_picked_up_in_time_raises_nothing(
    stack: Stack, localstripe_url: str
) -> None:
    order_id, tracking = await express_order(stack, localstripe_url)
    ordered_at = when((await get_order(stack, order_id))["created_at"])
    await stack.env.sleep(timedelta(hours=1))
    await report(stack, tracking, "picked_up", ordered_at + timedelta(hours=1))
    await wait_for(stack, order_id, OrderStatus.FULFILLING)
    await stack.env.sleep(timedelta(hours=3))
    assert await sla_alerts(stack, include_resolved="true") == []
    assert await sla_level(stack, order_id) is None
    await report(stack, tracking, "delivered", ordered_at + timedelta(hours=5))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)


async def test_a_late_parcel_cancelled_before_pickup_closes_its_alerts(
    stack: Stack, localstripe_url: str
) -> None:
    """The parcel will never leave: nothing about it is late any more."""
    order_id, _ = await express_order(stack, localstripe_url)
    await stack.env.sleep(timedelta(hours=1, minutes=31))
    assert [a["level"] for a in await sla_alerts(stack)] == ["yellow"]
    response = await stack.api.post(f"/orders/{order_id}/cancel", json={"reason": "too slow"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert await sla_alerts(stack) == []
    assert len(await sla_alerts(stack, include_resolved="true")) == 1
