"""The order's life cycle on the time-skipping server, with the real database and localstripe."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from domain.access import Role
from domain.order import OrderStatus
from store.db import SessionFactory, transaction
from store.models import Order, Payment
from store.repositories import StockRepository
from tests.conftest import WEBHOOK_SECRET, Stack
from tests.helpers import order_body, pay, payment_event, place_order, stripe_signature


def available(sessions: SessionFactory, sku: str = "TEA-001", warehouse: str = "HZ") -> int:
    with transaction(sessions) as session:
        level = StockRepository(session).level(sku, warehouse)
        assert level is not None
        return level.on_hand - level.reserved


async def order_status(stack: Stack, order_id: str) -> OrderStatus:
    response = await stack.api.get(f"/orders/{order_id}")
    assert response.status_code == 200, response.text
    return OrderStatus(response.json()["status"])


async def notify_paid(stack: Stack, order: dict) -> None:
    payload = payment_event(order["id"], order["payment"]["payment_intent_id"])
    response = await stack.api.post(
        "/webhooks/payments/stripe",
        content=payload,
        headers={"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET)},
    )
    assert response.status_code == 200, response.text


async def wait_for_status(stack: Stack, order_id: str, status: OrderStatus) -> None:
    for _ in range(200):
        if await order_status(stack, order_id) == status:
            return
        await stack.env.sleep(timedelta(milliseconds=50))
    raise AssertionError(f"order {order_id} never reached {status}")


async def paid_order(stack: Stack, localstripe_url: str, **changes: object) -> dict:
    order = await place_order(stack.api, **changes)
    assert pay(localstripe_url, order["payment"]["payment_intent_id"]) == "succeeded"
    await notify_paid(stack, order)
    await wait_for_status(stack, order["id"], OrderStatus.ALLOCATED)
    return order


async def ship_and_deliver(stack: Stack, order_id: str) -> None:
    for kind in ("shipped", "delivered"):
        response = await stack.api.post(
            f"/orders/{order_id}/carrier-events", json={"kind": kind, "tracking_number": "SF123"}
        )
        assert response.status_code == 202, response.text
    await wait_for_status(stack, order_id, OrderStatus.DELIVERED)


async def test_paid_order_runs_to_completion_when_the_confirmation_window_ends(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    before = available(sessions)
    order = await paid_order(stack, localstripe_url)
    assert available(sessions) == before - 2
    await ship_and_deliver(stack, order["id"])

    # Shipped from Hangzhou to Hangzhou: the same-city window, 24 hours.
    await stack.env.sleep(timedelta(hours=23))
    assert await order_status(stack, order["id"]) == OrderStatus.DELIVERED
    await stack.env.sleep(timedelta(hours=1, minutes=1))
    await wait_for_status(stack, order["id"], OrderStatus.COMPLETED)

    body = (await stack.api.get(f"/orders/{order['id']}")).json()
    statuses = [entry["status"] for entry in body["timeline"]]
    assert statuses == [
        "pending_payment", "paid", "allocated", "fulfilling", "delivered", "completed"
    ]  # fmt: skip
    assert body["timeline"][-1]["note"] == "confirmed automatically after 1d (same city)"
    await stack.keep_history(order["id"], "completed_after_confirmation_window")
    assert all(
        entry["at"].endswith("Z") or entry["at"].endswith("+00:00") for entry in body["timeline"]
    )
    with transaction(sessions) as session:
        payment = session.scalar(select(Payment).where(Payment.order_id == order["id"]))
        assert payment is not None and payment.status == "succeeded"
        level = StockRepository(session).level("TEA-001", "HZ")
        assert level is not None and level.reserved == 0 and level.on_hand == before - 2


async def test_customer_confirmation_completes_the_order_early(
    stack: Stack, localstripe_url: str
) -> None:
    order = await paid_order(stack, localstripe_url)
    await ship_and_deliver(stack, order["id"])

    response = await stack.api.post(
        f"/orders/{order['id']}/confirm-receipt",
        json={},
        headers=stack.as_role(Role.CUSTOMER, "c-42"),
    )
    assert response.status_code == 200, response.text
    await wait_for_status(stack, order["id"], OrderStatus.COMPLETED)
    timeline = (await stack.api.get(f"/orders/{order['id']}")).json()["timeline"]
    assert timeline[-1]["note"] == "receipt confirmed by customer:c-42"
    await stack.keep_history(order["id"], "completed_on_customer_confirmation")


async def test_receipt_cannot_be_confirmed_before_delivery(
    stack: Stack, localstripe_url: str
) -> None:
    order = await paid_order(stack, localstripe_url)
    response = await stack.api.post(
        f"/orders/{order['id']}/confirm-receipt",
        json={},
        headers=stack.as_role(Role.CUSTOMER, "c-42"),
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "action_refused"
    assert await order_status(stack, order["id"]) == OrderStatus.ALLOCATED


async def test_unpaid_order_is_cancelled_and_stock_released_when_the_window_ends(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments
) -> None:
    before = available(sessions)
    order = await place_order(stack.api)
    assert available(sessions) == before - 2

    await stack.env.sleep(timedelta(minutes=29))
    assert await order_status(stack, order["id"]) == OrderStatus.PENDING_PAYMENT
    await stack.env.sleep(timedelta(minutes=2))
    await wait_for_status(stack, order["id"], OrderStatus.CANCELLED)

    assert available(sessions) == before
    intent = payments.retrieve_payment(order["payment"]["payment_intent_id"])
    assert intent.status == "canceled"
    await stack.keep_history(order["id"], "cancelled_unpaid")


async def test_payment_without_a_callback_is_found_by_polling_the_provider(
    stack: Stack, localstripe_url: str
) -> None:
    order = await place_order(stack.api)
    assert pay(localstripe_url, order["payment"]["payment_intent_id"]) == "succeeded"
    # No webhook arrives. After 15 minutes the workflow asks the provider itself.
    await stack.env.sleep(timedelta(minutes=16))
    await wait_for_status(stack, order["id"], OrderStatus.ALLOCATED)


async def test_a_callback_for_an_unpaid_intent_is_not_believed(
    stack: Stack, localstripe_url: str
) -> None:
    order = await place_order(stack.api)
    await notify_paid(stack, order)  # correctly signed, but the customer never paid
    await stack.env.sleep(timedelta(minutes=1))
    assert await order_status(stack, order["id"]) == OrderStatus.PENDING_PAYMENT


async def test_cancelling_a_paid_order_refunds_it_and_releases_the_stock(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    before = available(sessions)
    order = await paid_order(stack, localstripe_url)
    response = await stack.api.post(
        f"/orders/{order['id']}/cancel", json={"reason": "changed mind"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled"
    assert "refunded 36.00 USD" in body["timeline"][-1]["note"]
    assert available(sessions) == before
    await stack.keep_history(order["id"], "cancelled_and_refunded")


async def test_a_shipped_order_cannot_be_cancelled(stack: Stack, localstripe_url: str) -> None:
    order = await paid_order(stack, localstripe_url)
    await ship_and_deliver(stack, order["id"])
    response = await stack.api.post(f"/orders/{order['id']}/cancel", json={"reason": "too late"})
    assert response.status_code == 409
    assert "return" in response.json()["error"]["message"]


async def test_stock_gone_since_intake_cancels_the_order_and_its_payment(
    stack: Stack, sessions: SessionFactory, payments, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Intake saw stock; by the time the workflow reserves, another order took it.
    monkeypatch.setattr("api.intake._check_availability", lambda session, quantities: None)
    response = await stack.api.post(
        "/orders", json=order_body(lines=[{"sku": "POT-004", "quantity": 11}])
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "out_of_stock", response.text

    with transaction(sessions) as session:
        order = session.scalar(select(Order).where(Order.channel == "web"))
        assert order is not None and order.status == "cancelled"
        payment = session.scalar(select(Payment).where(Payment.order_id == order.id))
        assert payment is not None
    assert payments.retrieve_payment(payment.provider_payment_id).status == "canceled"
    assert available(sessions, "POT-004", "HZ") == 10
