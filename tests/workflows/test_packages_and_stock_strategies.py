"""Packages and stock locking, driven through the API on the time-skipping server.

The merchant's channels (``TEST_RULES`` in conftest): web locks stock at order, tmall/jd/douyin
at payment (refund / hold / backorder on a shortage), flash pre-reserves for 10 minutes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.order import OrderStatus
from store.db import SessionFactory, transaction
from store.models import Alert, Notification, Package, StockMovement
from store.repositories import StockRepository
from tests.conftest import Stack
from tests.helpers import place_order
from tests.workflows.shipping_support import (
    Line,
    OrderBody,
    get_order,
    lines,
    movements,
    pay_and_notify,
    refunds,
    wait_for,
)

POT_PRICE = 68_000  # POT-004, minor units


# --- helpers ---------------------------------------------------------------------------------


def available(sessions: SessionFactory, sku: str, warehouse: str) -> int:
    with transaction(sessions) as session:
        level = StockRepository(session).level(sku, warehouse)
        assert level is not None
        return level.on_hand - level.reserved


async def place(stack: Stack, channel: str, order_lines: list[Line]) -> OrderBody:
    order = await place_order(stack.api, channel=channel, lines=order_lines)
    assert order["status"] == "pending_payment"
    return order


async def take_every_teapot(stack: Stack, localstripe_url: str) -> OrderBody:
    """A web customer buys and pays for all 10 teapots: they stay reserved for that order."""
    order = await place(stack, "web", lines(POT_004=10))
    await pay_and_notify(stack, localstripe_url, order)
    return await wait_for(stack, order["id"], OrderStatus.ALLOCATED)


async def cancel(stack: Stack, order_id: str, reason: str = "changed mind") -> OrderBody:
    response = await stack.api.post(f"/orders/{order_id}/cancel", json={"reason": reason})
    assert response.status_code == 200, response.text
    return response.json()


async def open_alerts(stack: Stack, **params: str) -> list[dict[str, Any]]:
    response = await stack.api.get("/alerts", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


# --- packages --------------------------------------------------------------------------------


async def test_tea_and_mooncakes_ship_in_two_packages_from_shanghai(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """Only Shanghai has mooncakes, so the tea ships from there too; the mooncakes travel
    cold, apart. The customer is told "ships in 2 packages"; the ledger names each parcel."""
    order = await place(stack, "web", lines(TEA_001=2, MOON_003=1))
    await pay_and_notify(stack, localstripe_url, order)
    body = await wait_for(stack, order["id"], OrderStatus.ALLOCATED)

    last = body["timeline"][-1]
    assert (last["status"], last["note"]) == ("allocated", "ships in 2 packages")
    tea, mooncakes = body["packages"]
    assert [p["number"] for p in (tea, mooncakes)] == [1, 2]
    assert {tea["warehouse"], mooncakes["warehouse"]} == {"SH"}
    assert tea["lines"] == [{"sku": "TEA-001", "quantity": 2}]
    assert mooncakes["lines"] == [{"sku": "MOON-003", "quantity": 1}]
    assert (tea["cold_chain"], mooncakes["cold_chain"]) == (False, True)
    assert any("cold chain" in reason for reason in mooncakes["reasons"])
    assert not any("cold chain" in reason for reason in tea["reasons"])
    assert all(reason.startswith("from SH") for reason in tea["reasons"])

    with transaction(sessions) as session:
        rows = session.scalars(
            select(Package).where(Package.order_id == order["id"]).order_by(Package.number)
        ).all()
        assert [(r.number, r.warehouse, r.cold_chain) for r in rows] == [
            (1, "SH", False),
            (2, "SH", True),
        ]
        assert rows[1].reasons == mooncakes["reasons"] and rows[0].reasons == tea["reasons"]
        notes = session.scalars(
            select(Notification).where(Notification.order_id == order["id"])
        ).all()
    assert [(n.key, n.recipient) for n in notes] == [("packages", "c-42")]
    assert "ships in 2 packages" in notes[0].message

    reserved = movements(sessions, order["id"], "reserve")
    assert sorted((m.reference, m.package, m.sku, m.warehouse, m.quantity) for m in reserved) == [
        (f"{order['id']}/1/1", 1, "TEA-001", "SH", 2),
        (f"{order['id']}/1/2", 2, "MOON-003", "SH", 1),
    ]
    # The tea came from Shanghai: Hangzhou's tea is untouched.
    assert available(sessions, "TEA-001", "HZ") == 500
    assert available(sessions, "TEA-001", "SH") == 198
    await stack.keep_history(order["id"], "two_packages_allocated")


async def test_a_fragile_valuable_teapot_ships_alone_and_insured(
    stack: Stack, localstripe_url: str
) -> None:
    """The teapot (680.00, fragile) goes in its own insured parcel; the tea in another."""
    order = await place(stack, "web", lines(POT_004=1, TEA_001=1))
    await pay_and_notify(stack, localstripe_url, order)
    body = await wait_for(stack, order["id"], OrderStatus.ALLOCATED, "ships in 2 packages")

    packages = {tuple(line["sku"] for line in p["lines"]): p for p in body["packages"]}
    assert set(packages) == {("TEA-001",), ("POT-004",)}
    pot, tea = packages[("POT-004",)], packages[("TEA-001",)]
    assert (pot["warehouse"], pot["fragile"], pot["insured"], pot["value"]) == (
        "HZ",
        True,
        True,
        POT_PRICE,
    )
    assert (tea["warehouse"], tea["fragile"], tea["insured"]) == ("HZ", False, False)
    assert any("insured" in reason for reason in pot["reasons"])
    assert any("fragile" in reason for reason in pot["reasons"])


# --- lock at payment -------------------------------------------------------------------------


async def test_at_payment_reserves_nothing_until_the_order_is_paid(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """A tmall order holds no stock while unpaid; paying reserves it and allocates."""
    order = await place(stack, "tmall", lines(TEA_001=2))
    await stack.env.sleep(timedelta(seconds=1))
    assert available(sessions, "TEA-001", "HZ") == 500
    assert movements(sessions, order["id"], "reserve") == []

    await pay_and_notify(stack, localstripe_url, order)
    body = await wait_for(stack, order["id"], OrderStatus.ALLOCATED, "ships in 1 package")
    assert available(sessions, "TEA-001", "HZ") == 498
    assert [
        (m.sku, m.warehouse, m.quantity) for m in movements(sessions, body["id"], "reserve")
    ] == [("TEA-001", "HZ", 2)]


async def test_at_payment_refunds_a_paid_order_whose_stock_is_gone(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """tmall refunds at once: the buyer whose teapots were sold meanwhile gets the money back
    and is told why; nobody else's stock moves."""
    order = await place(stack, "tmall", lines(POT_004=10))
    rival = await take_every_teapot(stack, localstripe_url)

    await pay_and_notify(stack, localstripe_url, order)
    body = await wait_for(stack, order["id"], OrderStatus.CANCELLED)

    note = body["timeline"][-1]["note"]
    assert "out of stock" in note and "POT-004" in note and "refunded 6,800.00 USD" in note
    [refund] = refunds(sessions, order["id"])
    assert refund.amount == 10 * POT_PRICE == body["total"]
    assert "out of stock" in refund.reason
    with transaction(sessions) as session:
        touched = session.scalar(select(func.count()).where(StockMovement.order_id == order["id"]))
    assert touched == 0
    assert available(sessions, "POT-004", "HZ") == 0
    assert sum(m.quantity for m in movements(sessions, rival["id"], "reserve")) == 10


async def test_at_payment_holds_a_paid_order_whose_stock_is_gone_until_support_cancels(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """jd puts the order on hold, with the reason, for a person; cancelling refunds it."""
    order = await place(stack, "jd", lines(POT_004=10))
    await take_every_teapot(stack, localstripe_url)

    await pay_and_notify(stack, localstripe_url, order)
    held = await wait_for(stack, order["id"], OrderStatus.ON_HOLD)
    assert "out of stock" in held["timeline"][-1]["note"]
    assert "POT-004" in held["timeline"][-1]["note"]
    assert refunds(sessions, order["id"]) == []

    body = await cancel(stack, order["id"], "no teapots left")
    assert body["status"] == "cancelled"
    assert "refunded 6,800.00 USD" in body["timeline"][-1]["note"]
    assert [r.amount for r in refunds(sessions, order["id"])] == [10 * POT_PRICE]
    assert movements(sessions, order["id"], "reserve") == []
    await stack.keep_history(order["id"], "held_without_stock_then_cancelled")
    assert available(sessions, "POT-004", "HZ") == 0


async def test_backorder_waits_for_a_restock_and_then_allocates(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """douyin backorders: the paid order waits, rechecking hourly, and ships once the
    warehouse receives teapots."""
    order = await place(stack, "douyin", lines(POT_004=10))
    await take_every_teapot(stack, localstripe_url)

    await pay_and_notify(stack, localstripe_url, order)
    waiting = await wait_for(stack, order["id"], OrderStatus.PAID, "backordered")
    assert "6h" in waiting["timeline"][-1]["note"]

    await stack.env.sleep(timedelta(hours=1, minutes=5))  # one recheck: still nothing
    assert (await get_order(stack, order["id"]))["status"] == "paid"
    assert movements(sessions, order["id"], "reserve") == []

    with transaction(sessions) as session:
        StockRepository(session).receive("restock-1", "POT-004", "HZ", 10)
    await stack.env.sleep(timedelta(hours=1))
    body = await wait_for(stack, order["id"], OrderStatus.ALLOCATED, "ships in 1 package")
    assert [(p["warehouse"], p["insured"]) for p in body["packages"]] == [("HZ", True)]
    assert [(m.reference, m.quantity) for m in movements(sessions, order["id"], "reserve")] == [
        (f"{order['id']}/1/1", 10)
    ]
    assert available(sessions, "POT-004", "HZ") == 0
    assert refunds(sessions, order["id"]) == []


async def test_a_receipt_serves_a_backordered_order_at_once(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """Goods booked at the warehouse tell the waiting order, which looks now, not at its hour."""
    order = await place(stack, "douyin", lines(POT_004=10))
    await take_every_teapot(stack, localstripe_url)
    await pay_and_notify(stack, localstripe_url, order)
    await wait_for(stack, order["id"], OrderStatus.PAID, "backordered")

    booked = await stack.api.post(
        "/warehouse/receipts",
        json={"reference": "DN-POTS", "sku": "POT-004", "warehouse": "HZ", "quantity": 10},
    )
    assert booked.status_code == 201, booked.text
    assert booked.json()["orders_told"] == 1
    await stack.env.sleep(timedelta(minutes=1))  # far short of the hourly look
    body = await wait_for(stack, order["id"], OrderStatus.ALLOCATED, "ships in 1 package")
    assert body["status"] == "allocated"
    assert available(sessions, "POT-004", "HZ") == 0


async def test_backorder_without_a_restock_is_cancelled_and_refunded_after_the_wait(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """After 6 hours without teapots the douyin order is cancelled and refunded in full."""
    order = await place(stack, "douyin", lines(POT_004=10))
    await take_every_teapot(stack, localstripe_url)
    await pay_and_notify(stack, localstripe_url, order)
    await wait_for(stack, order["id"], OrderStatus.PAID, "backordered")

    await stack.env.sleep(timedelta(hours=5, minutes=50))
    assert (await get_order(stack, order["id"]))["status"] == "paid"
    await stack.env.sleep(timedelta(minutes=15))
    body = await wait_for(stack, order["id"], OrderStatus.CANCELLED)

    note = body["timeline"][-1]["note"]
    assert "no stock within 6h" in note and "refunded 6,800.00 USD" in note
    assert [r.amount for r in refunds(sessions, order["id"])] == [10 * POT_PRICE]
    assert movements(sessions, order["id"], "reserve") == []
    await stack.keep_history(order["id"], "backorder_cancelled_and_refunded")


# --- pre-reservation -------------------------------------------------------------------------


async def test_pre_reservation_lapses_after_its_ttl_and_payment_reserves_again(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """flash holds the tea for 10 minutes; unpaid by then it goes back on sale, and paying
    later reserves it again (a second round in the ledger) and allocates."""
    order = await place(stack, "flash", lines(TEA_001=2))
    assert available(sessions, "TEA-001", "HZ") == 498

    await stack.env.sleep(timedelta(minutes=11))
    released = await wait_for(
        stack, order["id"], OrderStatus.PENDING_PAYMENT, "reservation released"
    )
    assert "2 units back on sale" in released["timeline"][-1]["note"]
    assert available(sessions, "TEA-001", "HZ") == 500
    assert [m.quantity for m in movements(sessions, order["id"], "release")] == [2]

    await pay_and_notify(stack, localstripe_url, order)
    await wait_for(stack, order["id"], OrderStatus.ALLOCATED, "ships in 1 package")
    assert available(sessions, "TEA-001", "HZ") == 498
    assert [m.reference for m in movements(sessions, order["id"], "reserve")] == [
        f"{order['id']}/1/1",
        f"{order['id']}/2/1",
    ]
    with transaction(sessions) as session:
        held = StockRepository(session).held_by(order["id"])
    assert [(m.reference, m.quantity) for m in held] == [(f"{order['id']}/2/1", 2)]
    await stack.keep_history(order["id"], "pre_reservation_lapsed_then_paid")


# --- low stock -------------------------------------------------------------------------------


async def test_low_stock_raises_one_alert_and_resolves_when_stock_comes_back(
    stack: Stack, sessions: SessionFactory
) -> None:
    """Down to 4 teapots (threshold 5) the warehouse is alerted once; it stays open while
    stock is low and resolves when cancellations bring it back."""
    first = await place(stack, "web", lines(POT_004=6))
    [alert] = await open_alerts(stack)
    assert (alert["kind"], alert["level"], alert["role"]) == ("low_stock", "yellow", "warehouse")
    assert "POT-004" in alert["subject"] and "HZ" in alert["subject"]
    assert "4 left" in alert["message"]

    second = await place(stack, "web", lines(POT_004=1))
    assert [a["id"] for a in await open_alerts(stack)] == [alert["id"]]
    with transaction(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1

    assert (await cancel(stack, second["id"]))["status"] == "cancelled"
    assert available(sessions, "POT-004", "HZ") == 4
    assert [a["id"] for a in await open_alerts(stack)] == [alert["id"]]  # still low

    assert (await cancel(stack, first["id"]))["status"] == "cancelled"
    assert available(sessions, "POT-004", "HZ") == 10
    assert await open_alerts(stack) == []
    [history] = await open_alerts(stack, include_resolved="true")
    assert history["id"] == alert["id"] and history["resolved_at"] is not None


@pytest.mark.parametrize("cursor", ["abc", "²", "-1"])
async def test_alerts_refuse_a_cursor_they_did_not_issue(stack: Stack, cursor: str) -> None:
    """A made-up cursor is the caller's mistake: 400 with a JSON error, never a 500."""
    response = await stack.api.get("/alerts", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
