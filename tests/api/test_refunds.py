"""Refunds through the API, with the real worker, database and localstripe: support and
finance give money back on delivered orders and on held ones whose parcel came back; every
refusal is a 4xx that changes nothing, in the database or at the provider."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from domain.access import Role
from domain.order import OrderStatus
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory, transaction
from store.models import Payment
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
    stock,
    two_parcels_picked_up,
    wait_for,
)

S = OrderStatus


async def delivered_order(stack: Stack, localstripe_url: str, tea: int = 2) -> dict[str, Any]:
    """TEA-001 at 18.00 (two unless told), delivered."""
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=tea))
    await report(stack, package["tracking_number"], "picked_up", T0)
    await report(stack, package["tracking_number"], "delivered", T0 + timedelta(days=1))
    await wait_for(stack, order["id"], S.DELIVERED)
    return order


async def refund(
    stack: Stack, order_id: str, role: Role = Role.SUPPORT, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = stack.as_role(role, "ana") | {"Idempotency-Key": key or uuid.uuid4().hex}
    body.setdefault("reason", "damaged in transit")
    return await stack.api.post(f"/orders/{order_id}/refunds", json=body, headers=headers)


def at_provider(payments: StripePayments, sessions: SessionFactory, order_id: str) -> list[int]:
    """The refunds localstripe holds for the order's payment."""
    with transaction(sessions) as session:
        payment = session.scalar(select(Payment).where(Payment.order_id == order_id))
        assert payment is not None
        intent = payment.provider_payment_id
    listed = payments.client.v1.refunds.list({"payment_intent": intent})
    return sorted(r.amount for r in listed.data if r.payment_intent == intent)


def trace_of(sessions: SessionFactory, order_id: str) -> str:
    with transaction(sessions) as session:
        payment = session.scalar(select(Payment).where(Payment.order_id == order_id))
        assert payment is not None
        return payment.trace_id


async def test_support_refunds_a_delivered_line_and_the_order_completes_partially_refunded(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]

    response = await refund(stack, order_id, lines=[{"sku": "TEA-001", "quantity": 1}])

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["amount"], body["currency"]) == ("refunded", 1_800, "usd")
    assert body["order"]["status"] == "partially_refunded"
    assert body["order"]["timeline"][-1]["note"] == (
        "refunded 18.00 USD (1 × TEA-001): damaged in transit (by support:ana)"
    )
    assert at_provider(payments, sessions, order_id) == [1_800]
    listed = (await stack.api.get(f"/orders/{order_id}/refunds")).json()
    assert [(r["status"], r["amount"], r["actor"]) for r in listed] == [
        ("refunded", 1_800, "support:ana")
    ]
    assert listed[0]["trace_id"] == trace_of(sessions, order_id)  # one ID, in and out

    confirmed = await stack.api.post(f"/orders/{order_id}/confirm-receipt", json={})
    assert confirmed.status_code == 200, confirmed.text
    await wait_for(stack, order_id, S.COMPLETED)
    await stack.keep_history(order_id, "partly_refunded_then_completed")


async def test_refunding_the_rest_ends_the_order_refunded(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    assert (await refund(stack, order_id, amount=500, goodwill=True)).status_code == 201

    response = await refund(stack, order_id, role=Role.FINANCE)  # everything left

    assert response.status_code == 201, response.text
    assert response.json()["amount"] == 3_600 - 500
    await wait_for(stack, order_id, S.REFUNDED)
    assert at_provider(payments, sessions, order_id) == [500, 3_100]
    assert sorted(r.amount for r in refunds(sessions, order_id)) == [500, 3_100]
    await stack.keep_history(order_id, "partly_refunded_then_refunded_in_full")


async def test_finance_refunds_a_delivered_order_in_full(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]

    response = await refund(stack, order_id, role=Role.FINANCE)

    assert response.status_code == 201, response.text
    assert response.json()["order"]["status"] == "refunded"
    assert at_provider(payments, sessions, order_id) == [3_600]
    await wait_for(stack, order_id, S.REFUNDED)
    await stack.keep_history(order_id, "refunded_in_full_on_delivery")


async def test_a_refund_settles_a_held_order_whose_other_parcel_came_back(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """Tea delivered, mooncakes returned: cancelling is refused (a parcel arrived), refunding
    the mooncakes settles it, puts them back on the shelf, and the tea completes."""
    order_id, delivered, came_back = await two_parcels_picked_up(stack, localstripe_url)
    await report(stack, delivered, "delivered", T0 + timedelta(days=1))
    await report(stack, came_back, "returned", T0 + timedelta(days=2))
    await wait_for(stack, order_id, S.ON_HOLD, "package 2 returned")
    assert (
        await stack.api.post(f"/orders/{order_id}/cancel", json={"reason": "x"})
    ).status_code == 409

    response = await refund(stack, order_id, lines=[{"sku": "MOON-003", "quantity": 1}])

    assert response.status_code == 201, response.text
    assert response.json()["amount"] == 3_200
    await wait_for(stack, order_id, S.PARTIALLY_REFUNDED)
    [(_, _, sku, warehouse, units)] = ledger(sessions, order_id, "restock")
    assert (sku, units) == ("MOON-003", 1)  # back on the shelf; the tea stays delivered
    assert stock(sessions, "MOON-003", warehouse)[1] == 0  # nothing left reserved
    await stack.api.post(f"/orders/{order_id}/confirm-receipt", json={})
    await wait_for(stack, order_id, S.COMPLETED)
    await stack.keep_history(order_id, "held_with_a_returned_parcel_settled_by_a_partial_refund")


async def test_a_held_order_refunded_in_full_ends_refunded(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id, delivered, came_back = await two_parcels_picked_up(stack, localstripe_url)
    await report(stack, delivered, "delivered", T0 + timedelta(days=1))
    await report(stack, came_back, "returned", T0 + timedelta(days=2))
    await wait_for(stack, order_id, S.ON_HOLD, "package 2 returned")

    response = await refund(stack, order_id, role=Role.FINANCE)

    assert response.status_code == 201, response.text
    await wait_for(stack, order_id, S.REFUNDED)
    assert [r.amount for r in refunds(sessions, order_id)] == [1_800 + 3_200]
    await stack.keep_history(order_id, "held_then_refunded_in_full")


async def test_the_same_idempotency_key_refunds_once(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]

    first = await refund(stack, order_id, key="ticket-881", amount=700)
    again = await refund(stack, order_id, key="ticket-881", amount=700)

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["request_id"] == again.json()["request_id"]
    assert at_provider(payments, sessions, order_id) == [700]
    assert len(refunds(sessions, order_id)) == 1


async def test_a_key_used_for_another_refund_is_refused_and_a_refund_needs_a_key(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    assert (await refund(stack, order_id, key="ticket-9", amount=700)).status_code == 201

    other = await refund(stack, order_id, key="ticket-9", amount=900)
    keyless = await stack.api.post(
        f"/orders/{order_id}/refunds",
        json={"reason": "no key", "amount": 100},
        headers=stack.as_role(Role.SUPPORT, "ana"),
    )

    assert other.status_code == 409 and error_code(other) == "idempotency_conflict"
    assert keyless.status_code == 422, keyless.text
    assert at_provider(payments, sessions, order_id) == [700]


async def test_a_refund_the_provider_already_made_is_found_not_made_again(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    """Days later Stripe has forgotten the idempotency key: a parked refund it did make after
    all is found by its purpose, and the ledger catches up."""
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    request_id = hashlib.sha256(b"ticket-12").hexdigest()[:32]
    with transaction(sessions) as session:
        payment = session.scalar(select(Payment).where(Payment.order_id == order_id))
        assert payment is not None
        intent = payment.provider_payment_id
    payments.refund_payment(  # made under a key nobody will send again
        payment_id=intent, amount=1_000, idempotency_key="expired", purpose=f"refund-{request_id}"
    )

    response = await refund(stack, order_id, key="ticket-12", amount=1_000)

    assert response.status_code == 201, response.text
    assert at_provider(payments, sessions, order_id) == [1_000]
    assert [(r.amount, r.status) for r in refunds(sessions, order_id)] == [(1_000, "refunded")]


@pytest.mark.parametrize(
    ("role", "body", "status", "code"),
    [
        (Role.SUPPORT, {"amount": 3_601}, 409, "action_refused"),
        (Role.SUPPORT, {"lines": [{"sku": "TEA-001", "quantity": 3}]}, 409, "action_refused"),
        (Role.SUPPORT, {"lines": [{"sku": "NOPE-1", "quantity": 1}]}, 409, "action_refused"),
        (Role.SUPPORT, {"amount": 100, "currency": "eur"}, 409, "action_refused"),
        (Role.SUPPORT, {"amount": 100, "lines": [{"sku": "TEA-001", "quantity": 1}]}, 422,
         "validation_error"),
        (Role.SUPPORT, {"goodwill": True}, 422, "validation_error"),
        (Role.SUPPORT, {"amount": -5}, 422, "validation_error"),
        (Role.CUSTOMER, {"amount": 100}, 403, "forbidden"),
        (Role.WAREHOUSE, {"amount": 100}, 403, "forbidden"),
    ],
    ids=["more-than-paid", "more-than-delivered", "not-in-order", "other-currency",
         "amount-and-lines", "goodwill-without-amount", "negative", "customer", "warehouse"],
)  # fmt: skip
async def test_a_refusal_is_a_4xx_and_changes_nothing(
    stack: Stack,
    localstripe_url: str,
    sessions: SessionFactory,
    payments: StripePayments,
    role: Role,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]

    response = await refund(stack, order_id, role=role, **body)

    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert refunds(sessions, order_id) == []
    assert at_provider(payments, sessions, order_id) == []
    assert (await get_order(stack, order_id))["status"] == "delivered"


async def test_support_above_its_limit_is_sent_to_finance(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    limit = stack.settings.support_refund_limit
    order_id = (await delivered_order(stack, localstripe_url, tea=limit // 1_800 + 1))["id"]

    response = await refund(stack, order_id, amount=limit + 1)

    assert response.status_code == 403, response.text
    assert "finance refunds it" in response.json()["error"]["message"]
    assert refunds(sessions, order_id) == []


async def test_an_order_not_yet_shipped_is_cancelled_not_refunded(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order, _ = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))

    response = await refund(stack, order["id"], amount=100)

    assert response.status_code == 409
    assert "cancel it" in response.json()["error"]["message"]
    assert refunds(sessions, order["id"]) == []
