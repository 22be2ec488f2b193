"""Reading the webhook log the API writes, and posting webhooks the way providers do."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from integrations.signing import sign
from store.db import SessionFactory, transaction
from store.models import WebhookLog
from tests.conftest import CARRIER_SECRET, WEBHOOK_SECRET, Stack

STRIPE_ROUTE = "/webhooks/payments/stripe"
CARRIER_ROUTE = "/webhooks/carriers/sandbox"


def log_rows(sessions: SessionFactory) -> list[WebhookLog]:
    """The whole log, oldest first."""
    with transaction(sessions) as session:
        return list(session.scalars(select(WebhookLog).order_by(WebhookLog.id)))


async def logged(sessions: SessionFactory, count: int, timeout: float = 5.0) -> list[WebhookLog]:
    """The log once it holds ``count`` rows: over real HTTP a webhook is recorded only after
    its answer has gone out, so the caller can see the answer first."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(rows := log_rows(sessions)) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{len(rows)} rows, not {count}"
        await asyncio.sleep(0.02)
    return rows


async def post_stripe(
    stack: Stack, payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None
) -> httpx.Response:
    headers = {"Stripe-Signature": sign(payload, secret, at)}
    return await stack.api.post(STRIPE_ROUTE, content=payload, headers=headers)


async def post_carrier(
    stack: Stack, body: bytes, *, secret: str = CARRIER_SECRET, route: str = CARRIER_ROUTE
) -> httpx.Response:
    headers = {"Carrier-Signature": sign(body, secret), "Content-Type": "application/json"}
    return await stack.api.post(route, content=body, headers=headers)
