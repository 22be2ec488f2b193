"""A payment that does not match its order: the order waits on hold, and cancelling it gives
back what the provider really captured, in its currency."""

from __future__ import annotations

import pytest
import stripe
from sqlalchemy import select

from domain.order import OrderStatus
from store.db import SessionFactory, transaction
from store.models import Payment, Refund
from tests.conftest import STRIPE_KEY, Stack
from tests.helpers import pay, place_order
from tests.workflows.test_order_workflow import notify_paid, wait_for_status


def captured_then_refunded(sessions: SessionFactory, order_id: str) -> tuple[object, ...]:
    with transaction(sessions) as session:
        payment = session.scalars(select(Payment).where(Payment.order_id == order_id)).one()
        refunds = session.scalars(select(Refund).where(Refund.order_id == order_id)).all()
        return payment.amount, payment.currency, [r.amount for r in refunds]


@pytest.mark.parametrize(
    ("amount", "currency", "refunded"),
    [(500_000, "usd", "5,000.00 USD"), (3_600, "eur", "36.00 EUR")],
    ids=["five-thousand-on-a-36-order", "paid-in-euros"],
)
async def test_a_mismatched_payment_is_held_and_cancelling_refunds_what_was_captured(
    stack: Stack,
    localstripe_url: str,
    sessions: SessionFactory,
    amount: int,
    currency: str,
    refunded: str,
) -> None:
    order = await place_order(stack.api)  # 2 × TEA-001: 36.00 USD
    intent = order["payment"]["payment_intent_id"]
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": localstripe_url})
    client.v1.payment_intents.update(intent, {"amount": amount, "currency": currency})
    assert pay(localstripe_url, intent) == "succeeded"
    await notify_paid(stack, order)
    await wait_for_status(stack, order["id"], OrderStatus.ON_HOLD)
    # What the provider captured is on record, not what the order asked for.
    assert captured_then_refunded(sessions, order["id"]) == (amount, currency, [])

    response = await stack.api.post(f"/orders/{order['id']}/cancel", json={"reason": "mismatch"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled"
    assert (
        body["timeline"][-1]["note"]
        == f"cancelled: mismatch; refunded {refunded} (by admin:test-admin)"
    )
    assert captured_then_refunded(sessions, order["id"]) == (amount, currency, [amount])
    assert int(client.v1.payment_intents.retrieve(intent).amount) == amount
    if currency == "eur":
        await stack.keep_history(order["id"], "mismatched_payment_held_then_cancelled")
