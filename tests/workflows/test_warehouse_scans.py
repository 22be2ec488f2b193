"""Pick and pack by scanning: each scanned unit is checked against its package."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from domain.order import OrderStatus
from store.db import SessionFactory, transaction
from store.models import Shipment
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    T0,
    error_code,
    get_order,
    lines,
    paid_and_labelled,
    report,
    scan,
    wait_for,
    when,
)


def warehouse_stamps(
    sessions: SessionFactory, order_id: str, package: int
) -> tuple[datetime | None, datetime | None]:
    with transaction(sessions) as session:
        shipment = session.scalar(
            select(Shipment).where(Shipment.order_id == order_id, Shipment.package == package)
        )
        assert shipment is not None
        return shipment.pick_started_at, shipment.packed_at


async def test_the_first_scan_starts_the_pick_and_the_last_one_packs(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order, _ = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=3))
    order_id = order["id"]

    first = await scan(stack, order_id, 1, "TEA-001")
    assert first.status_code == 200, first.text
    assert first.json() == {
        "shipment_id": f"shipment-{order_id}-1",
        "expected": {"TEA-001": 3},
        "scanned": {"TEA-001": 1},
        "packed": False,
    }
    pick_started, packed = warehouse_stamps(sessions, order_id, 1)
    assert pick_started is not None and packed is None

    last = await scan(stack, order_id, 1, "TEA-001", quantity=2)
    assert last.status_code == 200, last.text
    assert last.json()["packed"] is True
    started_again, packed = warehouse_stamps(sessions, order_id, 1)
    assert started_again == pick_started and packed is not None and packed >= pick_started

    [package] = (await get_order(stack, order_id))["packages"]
    assert when(package["stages"]["pick_started"]) == pick_started
    assert when(package["stages"]["packed"]) == packed
    await stack.keep_history(order_id, "parcel_scanned_and_packed")


async def test_a_wrong_sku_or_one_too_many_is_refused_and_counts_for_nothing(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order, _ = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id = order["id"]

    wrong = await scan(stack, order_id, 1, "CUP-002")
    assert (wrong.status_code, error_code(wrong)) == (409, "scan_refused")
    message = wrong.json()["error"]["message"]
    assert "CUP-002 does not belong in package 1" in message and "2 × TEA-001" in message
    assert warehouse_stamps(sessions, order_id, 1) == (None, None)

    too_many = await scan(stack, order_id, 1, "TEA-001", quantity=3)
    assert (too_many.status_code, error_code(too_many)) == (409, "scan_refused")
    assert "takes 2 × TEA-001; 0 already scanned" in too_many.json()["error"]["message"]

    assert (await scan(stack, order_id, 1, "TEA-001", quantity=2)).json()["packed"] is True
    extra = await scan(stack, order_id, 1, "TEA-001")
    assert (extra.status_code, error_code(extra)) == (409, "scan_refused")
    assert "2 already scanned" in extra.json()["error"]["message"]


async def test_scans_after_pickup_unknown_packages_and_bad_bodies_are_refused(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    order_id = order["id"]

    missing = await scan(stack, order_id, 2, "TEA-001")
    assert (missing.status_code, error_code(missing)) == (404, "order_not_found")
    for body in (
        {"order_id": order_id, "package": 1, "sku": "TEA-001", "quantity": 0},
        {"order_id": order_id, "package": 0, "sku": "TEA-001"},
        {"order_id": order_id, "sku": "TEA-001"},
    ):
        response = await stack.api.post("/warehouse/scans", json=body)
        assert (response.status_code, error_code(response)) == (422, "validation_error")

    await report(stack, package["tracking_number"], "picked_up", T0)
    await wait_for(stack, order_id, OrderStatus.FULFILLING)
    late = await scan(stack, order_id, 1, "TEA-001")
    assert (late.status_code, error_code(late)) == (409, "scan_refused")
    assert "already with the carrier" in late.json()["error"]["message"]
