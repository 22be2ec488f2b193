"""Signed but never received: when a parcel's times don't add up, the order goes to the audit
queue instead of its confirmation window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.access import Role
from domain.order import OrderStatus
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    alerts,
    get_order,
    lines,
    paid_and_labelled,
    report,
    scan,
    wait_for,
    when,
)


async def packed(stack: Stack, order_id: str) -> dict[str, Any]:
    """Scan the one package's two teas at the bench; returns the package as the API shows it."""
    response = await scan(stack, order_id, 1, "TEA-001", quantity=2)
    assert response.status_code == 200 and response.json()["packed"], response.text
    [package] = (await get_order(stack, order_id))["packages"]
    return package


async def test_a_parcel_scanned_by_the_carrier_49_hours_after_leaving_goes_to_audit(
    stack: Stack, localstripe_url: str
) -> None:
    order, _ = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id = order["id"]
    package = await packed(stack, order_id)
    out = when(package["stages"]["packed"])
    tracking = package["tracking_number"]

    await report(stack, tracking, "picked_up", out + timedelta(hours=49))
    await report(stack, tracking, "delivered", out + timedelta(hours=60))
    body = await wait_for(stack, order_id, OrderStatus.DELIVERED, "in the audit queue")
    note = body["timeline"][-1]["note"]
    assert "package 1 left the warehouse 49 h before the carrier's first scan" in note

    [alert] = await alerts(stack, "audit")
    assert (alert["level"], alert["role"]) == ("red", "finance")
    assert order_id in alert["subject"] and f"/orders/{order_id}" in alert["message"]

    # No confirmation window runs: days later the order still waits for a person.
    await stack.env.sleep(timedelta(days=5))
    assert (await get_order(stack, order_id))["status"] == "delivered"

    confirmed = await stack.api.post(
        f"/orders/{order_id}/confirm-receipt", json={}, headers=stack.as_role(Role.SUPPORT, "ana")
    )
    assert confirmed.status_code == 200, confirmed.text
    done = await wait_for(stack, order_id, OrderStatus.COMPLETED)
    assert done["timeline"][-1]["note"] == "receipt confirmed by support:ana after audit"
    await stack.keep_history(order_id, "audited_then_confirmed")
    assert await alerts(stack, "audit") == []
    assert [
        a["resolved_at"] is not None for a in await alerts(stack, "audit", include_resolved="true")
    ] == [True]


async def test_a_parcel_signed_for_before_the_carrier_had_it_goes_to_audit(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id, tracking = order["id"], package["tracking_number"]
    start = when(package["stages"]["label_bought"])

    await report(stack, tracking, "in_transit", start + timedelta(hours=10))
    await report(stack, tracking, "delivered", start + timedelta(hours=2))
    body = await wait_for(stack, order_id, OrderStatus.DELIVERED, "in the audit queue")
    assert "signed for before the carrier had it" in body["timeline"][-1]["note"]
    assert len(await alerts(stack, "audit")) == 1


async def test_times_that_add_up_start_the_confirmation_window_as_usual(
    stack: Stack, localstripe_url: str
) -> None:
    order, _ = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id = order["id"]
    package = await packed(stack, order_id)
    out = when(package["stages"]["packed"])

    await report(stack, package["tracking_number"], "picked_up", out + timedelta(hours=47))
    await report(stack, package["tracking_number"], "delivered", out + timedelta(hours=70))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)
    await stack.env.sleep(timedelta(hours=24, minutes=1))  # Hangzhou to Hangzhou: 24 h
    body = await wait_for(stack, order_id, OrderStatus.COMPLETED)
    assert "audit" not in " ".join(entry["note"] or "" for entry in body["timeline"])
    assert await alerts(stack, "audit", include_resolved="true") == []
