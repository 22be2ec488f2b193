"""Presale goods: a promise less than 30 minutes away becomes now + 120 minutes, the customer is
told, and the ship-by clock waits for the goods."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from domain.order import OrderStatus
from store.db import SessionFactory, transaction
from store.models import Notification, Product, utcnow
from tests.conftest import Stack
from tests.helpers import place_order
from tests.workflows.shipping_support import (
    get_order,
    labelled,
    lines,
    pay_and_notify,
    report,
    wait_for,
    when,
)


def presale(sessions: SessionFactory, sku: str, ships_in: timedelta) -> None:
    with transaction(sessions) as session:
        product = session.get(Product, sku)
        assert product is not None
        product.presale_ships_at = utcnow() + ships_in


def notices(sessions: SessionFactory, order_id: str) -> dict[str, str]:
    with transaction(sessions) as session:
        rows = session.scalars(select(Notification).where(Notification.order_id == order_id))
        return {row.key: row.message for row in rows}


async def test_a_presale_promise_too_close_to_keep_moves_to_two_hours_and_the_customer_hears(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    presale(sessions, "TEA-001", timedelta(minutes=10))
    products = (await stack.api.get("/products")).json()
    assert next(p for p in products if p["sku"] == "TEA-001")["presale_ships_at"] is not None

    order = await place_order(stack.api, channel="express", lines=lines(TEA_001=1))
    order_id = order["id"]
    await pay_and_notify(stack, localstripe_url, order)
    body = await wait_for(stack, order_id, OrderStatus.ALLOCATED)
    [package] = await labelled(stack, order_id)
    paid_at = when(next(e["at"] for e in body["timeline"] if e["status"] == "paid"))

    message = notices(sessions, order_id)["presale-1"]
    assert message.startswith("Your presale TEA-001 will ship around ")
    ships_at = when(
        message.removeprefix("Your presale TEA-001 will ship around ")[:-5] + ":00+00:00"
    )
    assert timedelta(minutes=119) <= ships_at - paid_at <= timedelta(minutes=121)

    # Express ships within 2 h, counted from when the goods can ship: no alert at paid + 2 h.
    await stack.env.sleep(timedelta(hours=2, minutes=5))
    alerts = (await stack.api.get("/alerts", params={"kind": "sla"})).json()["items"]
    assert alerts == []
    # ... but at ready + 1 h 30 min the warehouse hears of it.
    await stack.env.sleep(timedelta(hours=1, minutes=30))
    alerts = (await stack.api.get("/alerts", params={"kind": "sla"})).json()["items"]
    assert [a["level"] for a in alerts] == ["yellow"]

    await report(stack, package["tracking_number"], "picked_up", paid_at + timedelta(hours=4))
    await report(stack, package["tracking_number"], "delivered", paid_at + timedelta(hours=9))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)


async def test_a_presale_promise_far_enough_away_is_kept_without_a_notice(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    presale(sessions, "TEA-001", timedelta(hours=5))
    order = await place_order(stack.api, lines=lines(TEA_001=1))
    await pay_and_notify(stack, localstripe_url, order)
    await wait_for(stack, order["id"], OrderStatus.ALLOCATED)
    await labelled(stack, order["id"])
    assert "presale-1" not in notices(sessions, order["id"])
    assert (await get_order(stack, order["id"]))["status"] == "allocated"
