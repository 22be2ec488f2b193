"""A duplicate storm: one signed payment event sent a thousand times at once is one signal,
one payment and one state change; an event whose delivery failed gets through on retry.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from api.errors import ServiceUnavailable
from api.temporal import OrderWorkflows
from domain.messages import PaymentNotification
from store.db import SessionFactory, transaction
from store.models import EventOutcome, OrderEvent, Payment, PaymentEvent
from store.repositories import PaymentEventRepository
from tests.api.support import (
    count_rows,
    order_json,
    signals_received,
    wait_for_status,
    wait_until_signals_handled,
    webhook_count,
)
from tests.conftest import WEBHOOK_SECRET, Stack
from tests.helpers import pay, payment_event, place_order, stripe_signature

URL = "/webhooks/payments/stripe"
STORM = 1_000
IN_FLIGHT = 100  # requests open at once; enough to overlap, few enough to stay quick

# (status, accepted, detail) of an answer
DELIVERED = (200, True, None)
DUPLICATE = (200, True, "duplicate event")


async def paid_order(stack: Stack, localstripe_url: str) -> dict[str, Any]:
    """An order the customer has really paid at the provider; no webhook has arrived yet."""
    order = await place_order(stack.api)
    assert pay(localstripe_url, order["payment"]["payment_intent_id"]) == "succeeded"
    return order


async def storm(stack: Stack, payload: bytes, copies: int) -> list[httpx.Response]:
    """``copies`` identical, correctly signed deliveries of one event, all in flight together."""
    headers = {"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET)}
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def deliver() -> httpx.Response:
        async with gate:
            return await stack.api.post(URL, content=payload, headers=headers)

    return await asyncio.gather(*(deliver() for _ in range(copies)))


def answers(responses: list[httpx.Response]) -> Counter[tuple[int, bool, str | None]]:
    """How many responses were each (status, accepted, detail)."""
    return Counter((r.status_code, r.json()["accepted"], r.json()["detail"]) for r in responses)


def assert_paid_once(sessions: SessionFactory, order_id: str) -> None:
    with transaction(sessions) as session:
        payments = session.scalars(select(Payment).where(Payment.order_id == order_id)).all()
        assert [p.status for p in payments] == ["succeeded"]
        paid = session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.status == "paid")
        ).all()
        assert len(paid) == 1


def recorded_events(sessions: SessionFactory, order_id: str) -> list[PaymentEvent]:
    with transaction(sessions) as session:
        return list(
            session.scalars(
                select(PaymentEvent)
                .where(PaymentEvent.order_id == order_id)
                .order_by(PaymentEvent.provider_event_id)
            )
        )


async def settled_timeline(stack: Stack, order_id: str) -> list[str]:
    await wait_for_status(stack, order_id, "allocated")
    await wait_until_signals_handled(stack, order_id)
    return [entry["status"] for entry in (await order_json(stack, order_id))["timeline"]]


async def test_a_thousand_copies_of_one_event_signal_the_order_once(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order = await paid_order(stack, localstripe_url)
    intent_id = order["payment"]["payment_intent_id"]
    payload = payment_event(order["id"], intent_id, "evt_storm")
    metrics_before = (await stack.api.get("/metrics")).text

    responses = await storm(stack, payload, STORM)

    assert [r.status_code for r in responses] == [200] * STORM
    assert answers(responses) == {DELIVERED: 1, DUPLICATE: STORM - 1}
    assert await settled_timeline(stack, order["id"]) == ["pending_payment", "paid", "allocated"]
    assert await signals_received(stack, order["id"]) == 1
    assert_paid_once(sessions, order["id"])
    [event] = recorded_events(sessions, order["id"])
    assert (event.provider, event.provider_event_id) == ("stripe", "evt_storm")
    assert (event.event_type, event.provider_payment_id) == ("payment_intent.succeeded", intent_id)
    assert event.outcome == EventOutcome.DELIVERED
    assert count_rows(sessions, PaymentEvent) == 1

    metrics_after = (await stack.api.get("/metrics")).text
    for outcome, more in (("delivered", 1), ("duplicate", STORM - 1)):
        counted = webhook_count(metrics_after, outcome) - webhook_count(metrics_before, outcome)
        assert counted == more, outcome


async def test_two_events_for_one_payment_are_two_signals_and_still_one_payment(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """Stripe may send a second event (a new ID) about the same payment: both are delivered,
    the workflow's own check keeps it to one payment and one state change.
    """
    order = await paid_order(stack, localstripe_url)
    intent_id = order["payment"]["payment_intent_id"]
    first = payment_event(order["id"], intent_id, "evt_first")
    second = payment_event(order["id"], intent_id, "evt_second")

    responses = [*await storm(stack, first, 50), *await storm(stack, second, 50)]

    assert answers(responses) == {DELIVERED: 2, DUPLICATE: 98}
    assert await settled_timeline(stack, order["id"]) == ["pending_payment", "paid", "allocated"]
    assert await signals_received(stack, order["id"]) == 2
    assert_paid_once(sessions, order["id"])
    events = recorded_events(sessions, order["id"])
    assert [(e.provider_event_id, e.outcome) for e in events] == [
        ("evt_first", EventOutcome.DELIVERED),
        ("evt_second", EventOutcome.DELIVERED),
    ]


async def test_an_event_the_workflow_service_missed_is_delivered_on_the_providers_retry(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded but not delivered (Temporal down: 503) must not be taken for a duplicate later."""
    real_notify = OrderWorkflows.notify_payment
    calls = 0

    async def down_once(
        self: OrderWorkflows, order_id: str, notification: PaymentNotification
    ) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ServiceUnavailable("workflow service: down for this test")
        return await real_notify(self, order_id, notification)

    monkeypatch.setattr(OrderWorkflows, "notify_payment", down_once)
    order = await paid_order(stack, localstripe_url)
    payload = payment_event(order["id"], order["payment"]["payment_intent_id"], "evt_retried")

    [failed] = await storm(stack, payload, 1)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "service_unavailable"
    assert [e.outcome for e in recorded_events(sessions, order["id"])] == [EventOutcome.FAILED]
    assert await signals_received(stack, order["id"]) == 0
    assert (await order_json(stack, order["id"]))["status"] == "pending_payment"

    # The provider retries, and its retries may overlap: exactly one of them delivers.
    retries = await storm(stack, payload, 100)

    assert answers(retries) == {DELIVERED: 1, DUPLICATE: 99}
    assert await settled_timeline(stack, order["id"]) == ["pending_payment", "paid", "allocated"]
    assert await signals_received(stack, order["id"]) == 1
    assert calls == 2
    assert_paid_once(sessions, order["id"])
    assert [e.outcome for e in recorded_events(sessions, order["id"])] == [EventOutcome.DELIVERED]

    late = await storm(stack, payload, 1)
    assert answers(late) == {DUPLICATE: 1}
    assert await signals_received(stack, order["id"]) == 1


async def test_with_the_database_away_the_event_is_delivered_unrecorded(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No record means no deduplication, but the hint still reaches the order: a repeated
    signal is harmless, a withheld one would wait for the provider's retry.
    """
    order = await paid_order(stack, localstripe_url)
    payload = payment_event(order["id"], order["payment"]["payment_intent_id"], "evt_no_db")

    def database_away(*_: object, **__: object) -> bool:
        raise OperationalError("SELECT ...", {}, ConnectionRefusedError("database away"))

    monkeypatch.setattr(PaymentEventRepository, "is_duplicate", database_away)
    answer = await storm(stack, payload, 1)

    assert answers(answer) == {DELIVERED: 1}
    assert await settled_timeline(stack, order["id"]) == ["pending_payment", "paid", "allocated"]
    assert await signals_received(stack, order["id"]) == 1
    assert_paid_once(sessions, order["id"])
    assert count_rows(sessions, PaymentEvent) == 0
