"""Parcels the carrier brings back to the sender: the order waits on hold for support. When
nothing reached the customer, cancelling refunds everything and puts the returned units back
on the shelf; when something did, the cancellation is refused (that is a return)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from domain.order import OrderStatus
from store.db import SessionFactory
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    T0,
    error_code,
    get_order,
    ledger,
    lines,
    paid_and_labelled,
    refunds,
    report,
    settle,
    stock,
    two_parcels_picked_up,
    wait_for,
)


async def cancel(stack: Stack, order_id: str, reason: str = "parcel came back") -> httpx.Response:
    return await stack.api.post(f"/orders/{order_id}/cancel", json={"reason": reason})


async def test_an_order_whose_parcel_came_back_can_be_cancelled_refunded_and_restocked(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    before = stock(sessions, "TEA-001", "HZ")
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id, tracking = order["id"], package["tracking_number"]
    await report(stack, tracking, "picked_up", T0)
    await wait_for(stack, order_id, OrderStatus.FULFILLING)
    assert stock(sessions, "TEA-001", "HZ") == (before[0] - 2, before[1])

    await report(stack, tracking, "returned", T0 + timedelta(days=2))
    await wait_for(stack, order_id, OrderStatus.ON_HOLD, "package 1 returned")

    response = await cancel(stack, order_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["timeline"][-1]["note"].startswith("cancelled: parcel came back; refunded")
    [refund] = refunds(sessions, order_id)
    assert refund.amount == body["total"]
    assert stock(sessions, "TEA-001", "HZ") == before  # back on the shelf
    assert ledger(sessions, order_id, "restock") == [(f"{order_id}/1/1", 1, "TEA-001", "HZ", 2)]
    await stack.keep_history(order_id, "returned_then_cancelled_and_restocked")


async def test_a_delivered_parcel_makes_cancelling_a_return_instead(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id, delivered, came_back = await two_parcels_picked_up(stack, localstripe_url)
    await report(stack, delivered, "delivered", T0 + timedelta(days=1))
    await report(stack, came_back, "returned", T0 + timedelta(days=2))
    await wait_for(stack, order_id, OrderStatus.ON_HOLD, "package 2 returned")

    response = await cancel(stack, order_id)
    assert response.status_code == 409, response.text
    assert error_code(response) == "action_refused"
    await settle(stack)
    assert (await get_order(stack, order_id))["status"] == "on_hold"
    assert refunds(sessions, order_id) == []
    assert ledger(sessions, order_id, "restock") == []


async def test_a_cancellation_refused_as_too_late_does_not_come_back_when_a_parcel_does(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """Refused means refused: the customer was told to ask for a return, so a parcel coming
    back later waits for support instead of cancelling the order by itself."""
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    order_id, tracking = order["id"], package["tracking_number"]
    await report(stack, tracking, "picked_up", T0)
    await wait_for(stack, order_id, OrderStatus.FULFILLING)
    assert (await cancel(stack, order_id, "changed mind")).status_code == 409

    await report(stack, tracking, "returned", T0 + timedelta(days=2))
    await wait_for(stack, order_id, OrderStatus.ON_HOLD, "package 1 returned")
    await settle(stack)
    assert (await get_order(stack, order_id))["status"] == "on_hold"
    assert refunds(sessions, order_id) == []

    response = await cancel(stack, order_id, "returned to sender")
    assert response.status_code == 200, response.text
    assert response.json()["timeline"][-1]["note"].startswith("cancelled: returned to sender")
