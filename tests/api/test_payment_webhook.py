"""Stripe's webhook: only signed events count, and a repeated event pays the order once."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from store.db import SessionFactory, transaction
from store.models import OrderEvent, Payment
from tests.api.support import (
    count_rows,
    new_external_id,
    order_json,
    signals_received,
    wait_for_status,
    wait_until_signals_handled,
)
from tests.conftest import WEBHOOK_SECRET, Stack
from tests.helpers import pay, payment_event, place_order, stripe_signature

URL = "/webhooks/payments/stripe"


async def send(
    stack: Stack, payload: bytes, signature: str | None, **headers: str
) -> dict[str, Any]:
    if signature is not None:
        headers["Stripe-Signature"] = signature
    response = await stack.api.post(URL, content=payload, headers=headers)
    return {"status": response.status_code, "body": response.json()}


async def paid_but_not_told(stack: Stack, localstripe_url: str) -> dict[str, Any]:
    """An order the customer has really paid at the provider; no webhook has arrived yet."""
    order = await place_order(stack.api)
    assert pay(localstripe_url, order["payment"]["payment_intent_id"]) == "succeeded"
    return order


def signed(payload: bytes) -> str:
    return stripe_signature(payload, WEBHOOK_SECRET)


def forged_cases(order: dict[str, Any]) -> dict[str, tuple[bytes, str | None]]:
    payload = payment_event(order["id"], order["payment"]["payment_intent_id"])
    event = json.loads(payload)
    event["id"] = "evt_tampered"
    tampered = json.dumps(event).encode()
    stale = int(time.time()) - 3600
    return {
        "missing signature": (payload, None),
        "empty signature": (payload, ""),
        "wrong secret": (payload, stripe_signature(payload, "whsec_someone_else")),
        "tampered body": (tampered, signed(payload)),
        "stale timestamp": (payload, stripe_signature(payload, WEBHOOK_SECRET, at=stale)),
        "not a signature": (payload, "v1=deadbeef"),
    }


CASES = [
    "missing signature",
    "empty signature",
    "wrong secret",
    "tampered body",
    "stale timestamp",
    "not a signature",
]


@pytest.mark.parametrize("case", CASES)
async def test_a_badly_signed_event_is_refused_and_changes_nothing(
    stack: Stack, localstripe_url: str, case: str
) -> None:
    order = await paid_but_not_told(stack, localstripe_url)
    payload, signature = forged_cases(order)[case]

    answer = await send(stack, payload, signature)

    assert answer["status"] == 400, answer
    assert answer["body"]["error"]["code"] == "bad_signature"
    assert answer["body"]["error"]["message"]
    # Nothing reached the workflow, so nothing can have moved the order.
    assert await signals_received(stack, order["id"]) == 0
    assert (await order_json(stack, order["id"]))["status"] == "pending_payment"


async def test_the_correctly_signed_event_after_forgeries_pays_the_order(
    stack: Stack, localstripe_url: str
) -> None:
    """The control for the refusals above: the same event, correctly signed, does pay."""
    order = await paid_but_not_told(stack, localstripe_url)
    for payload, signature in forged_cases(order).values():
        await send(stack, payload, signature)
    payload = payment_event(order["id"], order["payment"]["payment_intent_id"])
    answer = await send(stack, payload, signed(payload))
    assert answer == {"status": 200, "body": {"accepted": True, "detail": None}}
    await wait_for_status(stack, order["id"], "allocated")


async def test_an_event_of_another_type_is_accepted_and_ignored(
    stack: Stack, localstripe_url: str
) -> None:
    order = await paid_but_not_told(stack, localstripe_url)
    event = json.loads(payment_event(order["id"], order["payment"]["payment_intent_id"]))
    event["type"] = "charge.refund.updated"
    payload = json.dumps(event).encode()

    answer = await send(stack, payload, signed(payload))

    assert answer["status"] == 200, answer
    assert "charge.refund.updated" in answer["body"]["detail"]
    assert await signals_received(stack, order["id"]) == 0
    assert (await order_json(stack, order["id"]))["status"] == "pending_payment"


async def test_a_payment_event_without_an_order_is_accepted_and_ignored(stack: Stack) -> None:
    event = json.loads(payment_event("ignored", "pi_elsewhere"))
    event["data"]["object"]["metadata"] = {}
    payload = json.dumps(event).encode()
    answer = await send(stack, payload, signed(payload))
    assert answer["status"] == 200, answer
    assert answer["body"]["detail"]


async def test_a_signed_event_for_an_unknown_order_is_answered_not_accepted(
    stack: Stack, sessions: SessionFactory
) -> None:
    payload = payment_event(f"web-{new_external_id()}", "pi_unknown")
    answer = await send(stack, payload, signed(payload))
    assert answer["status"] == 200, answer
    assert answer["body"]["accepted"] is False
    assert count_rows(sessions, Payment) == 0


async def test_the_same_event_twenty_times_pays_the_order_once(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order = await paid_but_not_told(stack, localstripe_url)
    payload = payment_event(order["id"], order["payment"]["payment_intent_id"], "evt_repeat")

    answers = await asyncio.gather(*(send(stack, payload, signed(payload)) for _ in range(20)))

    # The first to record the event delivers it; every copy is answered 200 all the same.
    delivered = {"status": 200, "body": {"accepted": True, "detail": None}}
    duplicate = {"status": 200, "body": {"accepted": True, "detail": "duplicate event"}}
    assert sorted(answers, key=lambda a: a == duplicate) == [delivered] + [duplicate] * 19
    await wait_for_status(stack, order["id"], "allocated")
    # A late duplicate, and time for it (and any other) to do harm before counting.
    again = await send(stack, payload, signed(payload))
    assert again == duplicate
    await wait_until_signals_handled(stack, order["id"])
    body = await order_json(stack, order["id"])

    statuses = [entry["status"] for entry in body["timeline"]]
    assert statuses == ["pending_payment", "paid", "allocated"]
    assert count_rows(sessions, Payment, order_id=order["id"]) == 1
    with transaction(sessions) as session:
        payment = session.scalar(select(Payment).where(Payment.order_id == order["id"]))
        assert payment is not None and payment.status == "succeeded"
        paid_rows = session.scalars(
            select(OrderEvent).where(
                OrderEvent.order_id == order["id"], OrderEvent.status == "paid"
            )
        ).all()
        assert len(paid_rows) == 1
    # Only the one delivery reached the workflow.
    assert await signals_received(stack, order["id"]) == 1


async def test_a_paid_payment_of_another_order_does_not_pay_this_one(
    stack: Stack, localstripe_url: str
) -> None:
    victim = await place_order(stack.api)
    other = await paid_but_not_told(stack, localstripe_url)
    # Correctly signed, names the victim, but carries the other order's (paid) intent.
    payload = payment_event(victim["id"], other["payment"]["payment_intent_id"], "evt_swap")
    answer = await send(stack, payload, signed(payload))
    assert answer["status"] == 200, answer
    assert await signals_received(stack, victim["id"]) == 1
    await wait_until_signals_handled(stack, victim["id"])
    body = await order_json(stack, victim["id"])
    assert body["status"] == "pending_payment"
    assert [entry["status"] for entry in body["timeline"]] == ["pending_payment"]
