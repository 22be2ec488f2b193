"""Small things tests do the way a client would: build an order, sign a webhook, pay."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from integrations.signing import sign
from orderflow.customer import TEST_CARD, pay_with_card

HANGZHOU_ADDRESS: dict[str, Any] = {
    "name": "Li Na",
    "phone": "+86 138 0000 0000",
    "line1": "1 Wensan Rd",
    "city": "Hangzhou",
    "province": "Zhejiang",
    "postal_code": "310000",
    "country": "CN",
    "lat": 30.27,
    "lon": 120.15,
}


def order_body(external_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """The order of DESIGN.md; each call gets its own channel order number unless given one."""
    body: dict[str, Any] = {
        "channel": "web",
        "external_id": external_id or f"A-{uuid.uuid4().hex[:12]}",
        "customer": {"id": "c-42", "email": "li.na@example.com", "name": "Li Na"},
        "shipping_address": dict(HANGZHOU_ADDRESS),
        "lines": [{"sku": "TEA-001", "quantity": 2}],
    }
    body.update(changes)
    return body


async def place_order(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await api.post("/orders", json=order_body(**changes))
    assert response.status_code == 201, response.text
    return response.json()


def stripe_signature(payload: bytes, secret: str, at: int | None = None) -> str:
    """The header Stripe (and localstripe) put on a webhook: t=<time>,v1=<HMAC-SHA256>."""
    return sign(payload, secret, at)


def payment_event(order_id: str, intent_id: str, event_id: str = "evt_1") -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": intent_id, "object": "payment_intent",
                            "metadata": {"order_id": order_id}}},
    }  # fmt: skip
    return json.dumps(event).encode()


def pay(localstripe_url: str, intent_id: str, card: str = TEST_CARD) -> str:
    return pay_with_card(
        api_key="sk_test_orderflow",
        api_base=localstripe_url,
        payment_intent_id=intent_id,
        card_number=card,
    )
