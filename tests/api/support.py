"""What the API tests look at besides the API itself: rows, workflows, provider payments."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import stripe
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import order_workflow_id
from store.db import SessionFactory, transaction
from store.models import Base, Order
from tests.conftest import STRIPE_KEY, Stack

WEBHOOKS = "orderflow_payment_webhooks_total"


def new_external_id() -> str:
    return f"T-{uuid.uuid4().hex[:12]}"


def count_rows(sessions: SessionFactory, model: type[Base], **where: Any) -> int:
    with transaction(sessions) as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(session.scalar(query) or 0)


def order_count(sessions: SessionFactory) -> int:
    return count_rows(sessions, Order)


async def workflow_exists(stack: Stack, order_id: str) -> bool:
    try:
        await stack.client.get_workflow_handle(order_workflow_id(order_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def signals_received(stack: Stack, order_id: str) -> int:
    """Signals recorded in the order workflow's history (deterministic, no waiting)."""
    handle = stack.client.get_workflow_handle(order_workflow_id(order_id))
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )


async def wait_until_signals_handled(stack: Stack, order_id: str, timeout: float = 10.0) -> None:
    """Until a workflow task has completed after the last signal: the workflow has seen them all."""
    handle = stack.client.get_workflow_handle(order_workflow_id(order_id))
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        events = [event.event_type for event in (await handle.fetch_history()).events]
        signalled = [
            i
            for i, kind in enumerate(events)
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
        if not signalled or EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in events[signalled[-1] :]:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"order {order_id} has not handled its signals")
        await asyncio.sleep(0.02)


async def order_json(stack: Stack, order_id: str) -> dict[str, Any]:
    response = await stack.api.get(f"/orders/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def wait_for_status(stack: Stack, order_id: str, status: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(200):
        body = await order_json(stack, order_id)
        if body["status"] == status:
            return body
        await stack.env.sleep(timedelta(milliseconds=50))
    raise AssertionError(f"order {order_id} never reached {status}; last seen {body}")


def intents_for_order(localstripe_url: str, order_id: str) -> list[str]:
    """Every PaymentIntent the provider holds for this order (by its metadata)."""
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": localstripe_url})
    listing = client.v1.payment_intents.list({"limit": 100000})
    return [
        intent.id
        for intent in listing.data
        if (intent.to_dict().get("metadata") or {}).get("order_id") == order_id
    ]


def webhook_count(metrics_text: str, outcome: str) -> float:
    """The webhook counter's value for one outcome in a /metrics answer."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == WEBHOOKS and sample.labels.get("outcome") == outcome:
                return sample.value
    return 0.0
