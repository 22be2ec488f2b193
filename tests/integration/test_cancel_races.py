"""A cancellation racing other news for the same order, on the real dev server.

The customer's ``POST /orders/{id}/cancel`` and a provider's or carrier's callback often land
in the same instant. Whatever the order, the caller must get the real outcome (200, or 409 when
refused) and the workflow, the database row and the payment provider must tell the same story.
Only the real server shows this: it refuses to complete a workflow task that ends the workflow
when a signal arrived while the task ran.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import order_workflow_id
from domain.messages import CarrierEvent, PaymentNotification
from store.db import SessionFactory, transaction
from store.models import Order
from store.repositories import StockRepository
from tests.conftest import STRIPE_KEY, WEBHOOK_SECRET, Stack
from tests.helpers import pay, payment_event, place_order, stripe_signature
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration

OrderBody = dict[str, Any]
News = Callable[[OrderBody], Awaitable[object]]

ORDERS = 10
TEAPOTS = [{"sku": "POT-004", "quantity": 10}]


# --- what the outside world sends --------------------------------------------------------------


async def cancel(stack: Stack, order: OrderBody) -> httpx.Response:
    return await stack.api.post(f"/orders/{order['id']}/cancel", json={"reason": "changed mind"})


async def webhook(stack: Stack, order: OrderBody, event_id: str) -> httpx.Response:
    """A correctly signed ``payment_intent.succeeded`` for the order's payment."""
    payload = payment_event(order["id"], order["payment"]["payment_intent_id"], event_id)
    response = await stack.api.post(
        "/webhooks/payments/stripe",
        content=payload,
        headers={"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET)},
    )
    assert response.status_code == 200, response.text
    return response


async def carrier_event(stack: Stack, order: OrderBody) -> httpx.Response:
    response = await stack.api.post(
        f"/orders/{order['id']}/carrier-events", json={"kind": "shipped", "tracking_number": "SF1"}
    )
    assert response.status_code == 202, response.text
    return response


# --- what everyone says afterwards -------------------------------------------------------------


async def outcome(
    stack: Stack,
    sessions: SessionFactory,
    localstripe_url: str,
    order: OrderBody,
    answer: httpx.Response,
) -> tuple[object, ...]:
    """(the caller's answer, the workflow's status, the row's status, the provider's payment)."""
    handle = stack.client.get_workflow_handle_for(OrderWorkflow.run, order_workflow_id(order["id"]))
    deadline = asyncio.get_running_loop().time() + 10
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        if asyncio.get_running_loop().time() > deadline:
            break  # and say what it is stuck at
        await asyncio.sleep(0.1)
    live = await handle.query(OrderWorkflow.status)
    with transaction(sessions) as session:
        stored = session.scalar(select(Order.status).where(Order.id == order["id"]))
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": localstripe_url})
    intent_id = order["payment"]["payment_intent_id"]
    intent = client.v1.payment_intents.retrieve(intent_id)
    refunded = 0
    if intent.status == "succeeded":  # localstripe can't list the refunds of an unpaid intent
        refunds = client.v1.refunds.list({"payment_intent": intent_id})
        refunded = sum(refund.amount for refund in refunds.data)
    return (
        answer.status_code,
        answer.json().get("status"),
        live.status.value,
        stored,
        intent.status,
        refunded,
    )


def cancelled_unpaid() -> tuple[object, ...]:
    return (200, "cancelled", "cancelled", "cancelled", "canceled", 0)


def cancelled_and_refunded(order: OrderBody) -> tuple[object, ...]:
    return (200, "cancelled", "cancelled", "cancelled", "succeeded", order["total"])


# --- orders to cancel --------------------------------------------------------------------------


async def unpaid_orders(stack: Stack, count: int) -> list[OrderBody]:
    return [await place_order(stack.api) for _ in range(count)]


async def orders_on_hold(stack: Stack, localstripe_url: str, count: int) -> list[OrderBody]:
    """Paid jd orders whose teapots are gone: on hold until support decides."""
    orders = [await place_order(stack.api, channel="jd", lines=TEAPOTS) for _ in range(count)]
    await place_order(stack.api, lines=TEAPOTS)  # a web order reserves every teapot at intake
    for order in orders:
        assert pay(localstripe_url, order["payment"]["payment_intent_id"]) == "succeeded"
        await webhook(stack, order, f"evt_paid_{order['id']}")
    for order in orders:
        await until_status(stack, order["id"], "on_hold")
    return orders


async def until_status(stack: Stack, order_id: str, status: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (body := (await stack.api.get(f"/orders/{order_id}")).json())["status"] != status:
        assert asyncio.get_running_loop().time() < deadline, f"{order_id} stuck: {body}"
        await asyncio.sleep(0.05)


# --- races as they come ------------------------------------------------------------------------


async def race(orders: list[OrderBody], stack: Stack, news: News) -> list[httpx.Response]:
    """Every order's cancellation and ``news`` sent at the same moment: the cancels' answers."""
    sent = await asyncio.gather(
        *(message for order in orders for message in (cancel(stack, order), news(order)))
    )
    return list(sent[0::2])


async def test_unpaid_orders_cancelled_as_payment_webhooks_arrive_are_cancelled_everywhere(
    dev_stack: Stack, sessions: SessionFactory, localstripe_url: str
) -> None:
    orders = await unpaid_orders(dev_stack, ORDERS)

    answers = await race(orders, dev_stack, lambda o: webhook(dev_stack, o, f"evt_{o['id']}"))

    seen = await asyncio.gather(
        *(
            outcome(dev_stack, sessions, localstripe_url, order, answer)
            for order, answer in zip(orders, answers, strict=True)
        )
    )
    assert seen == [cancelled_unpaid()] * ORDERS


@pytest.mark.parametrize("news", ["carrier event", "payment webhook"])
async def test_orders_on_hold_cancelled_as_news_arrives_are_refunded_and_cancelled_everywhere(
    dev_stack: Stack, sessions: SessionFactory, localstripe_url: str, news: str
) -> None:
    orders = await orders_on_hold(dev_stack, localstripe_url, ORDERS)

    def send(order: OrderBody) -> Awaitable[object]:
        if news == "carrier event":
            return carrier_event(dev_stack, order)
        return webhook(dev_stack, order, f"evt_again_{order['id']}")

    answers = await race(orders, dev_stack, send)

    seen = await asyncio.gather(
        *(
            outcome(dev_stack, sessions, localstripe_url, order, answer)
            for order, answer in zip(orders, answers, strict=True)
        )
    )
    assert seen == [cancelled_and_refunded(order) for order in orders]


# --- the race made certain ---------------------------------------------------------------------


class Hold:
    """Holds the first call of a function, once it started, until the test lets it go."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def around(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            if not self.started.is_set():
                self.started.set()
                self.release.wait(timeout=10)
            return call(*args, **kwargs)

        return held


@pytest.mark.parametrize("state", ["unpaid", "on hold"])
async def test_a_signal_arriving_while_the_cancelled_order_closes_loses_nothing(
    dev_stack: Stack,
    sessions: SessionFactory,
    localstripe_url: str,
    monkeypatch: pytest.MonkeyPatch,
    state: str,
) -> None:
    """The signal lands while the stock is released: in the task that would end the order."""
    if state == "unpaid":
        [order] = await unpaid_orders(dev_stack, 1)
        signal: tuple[Any, Any] = (
            OrderWorkflow.payment_notified,
            PaymentNotification(payment_intent_id=order["payment"]["payment_intent_id"]),
        )
    else:
        [order] = await orders_on_hold(dev_stack, localstripe_url, 1)
        signal = (OrderWorkflow.carrier_event, CarrierEvent(kind="shipped", carrier="sandbox"))
    hold = Hold()
    monkeypatch.setattr(StockRepository, "release", hold.around(StockRepository.release))
    handle = dev_stack.client.get_workflow_handle(order_workflow_id(order["id"]))

    cancelling = asyncio.create_task(cancel(dev_stack, order))
    assert await asyncio.to_thread(hold.started.wait, 10)
    await handle.signal(*signal)
    hold.release.set()
    answer = await cancelling

    seen = await outcome(dev_stack, sessions, localstripe_url, order, answer)
    assert seen == (cancelled_unpaid() if state == "unpaid" else cancelled_and_refunded(order))
    name = "cancelled_unpaid" if state == "unpaid" else "cancelled_on_hold_and_refunded"
    await dev_stack.keep_history(order["id"], f"{name}_while_a_signal_arrived")


# --- and if the server drops an update all the same ---------------------------------------------

DROPPED = "Unable to perform workflow execution update due to unexpected workflow task failure."


async def test_a_cancellation_the_server_dropped_is_asked_again(
    dev_stack: Stack,
    sessions: SessionFactory,
    localstripe_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server's answer when the task that saw an update failed: it never happened for the
    workflow, so the API asks again and answers with what did happen."""
    [order] = await unpaid_orders(dev_stack, 1)
    execute_update = WorkflowHandle.execute_update
    dropped: list[object] = []

    async def drop_once(self: WorkflowHandle, update: Any, *args: Any, **kwargs: Any) -> Any:
        if not dropped:
            dropped.append(update)
            raise RPCError(DROPPED, RPCStatusCode.FAILED_PRECONDITION, b"")
        return await execute_update(self, update, *args, **kwargs)

    monkeypatch.setattr(WorkflowHandle, "execute_update", drop_once)
    answer = await cancel(dev_stack, order)

    assert dropped
    assert await outcome(dev_stack, sessions, localstripe_url, order, answer) == cancelled_unpaid()
