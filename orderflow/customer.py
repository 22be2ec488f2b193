"""What a shopper's browser does with Stripe: attach a card to the order's payment and confirm it.

Used by ``orderflow demo`` and by the tests, against localstripe or Stripe's test mode.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import stripe

TEST_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"


def pay_with_card(
    *, api_key: str, api_base: str, payment_intent_id: str, card_number: str = TEST_CARD
) -> str:
    """Pay the PaymentIntent with a test card; returns the intent's new status."""
    client = stripe.StripeClient(api_key, base_addresses={"api": api_base})
    method = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": card_number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    client.v1.payment_intents.update(payment_intent_id, {"payment_method": method.id})
    return client.v1.payment_intents.confirm(payment_intent_id).status


async def pay_and_ship(
    api: httpx.AsyncClient, *, api_key: str, api_base: str, order: dict[str, Any]
) -> None:
    """The rest of a happy-path order after intake: the shopper pays, the carrier reports."""
    await asyncio.to_thread(
        pay_with_card,
        api_key=api_key,
        api_base=api_base,
        payment_intent_id=order["payment"]["payment_intent_id"],
    )
    for kind in ("shipped", "delivered"):
        sent = await api.post(f"/orders/{order['id']}/carrier-events", json={"kind": kind})
        sent.raise_for_status()
