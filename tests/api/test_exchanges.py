"""Exchanges through the API: a return whose inspection sends a replacement instead of the
money, its stock reserved when the exchange is accepted; a dearer one is paid for first
(at localstripe), a cheaper one refunds the difference."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.access import Role
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory
from tests.api.test_refunds import at_provider, delivered_order
from tests.api.test_returns import scan
from tests.conftest import Stack
from tests.helpers import pay
from tests.workflows.shipping_support import (
    T0,
    eventually,
    get_order,
    ledger,
    refunds,
    report,
    stock,
)


@pytest.fixture
def time_skipping_env(own_time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """A server per test: a replacement's shipment outlives its test (see the fixture)."""
    return own_time_skipping_env


async def exchange(
    stack: Stack, order_id: str, back: dict[str, int], instead: dict[str, int]
) -> httpx.Response:
    return await stack.api.post(
        f"/orders/{order_id}/returns",
        json={
            "lines": [{"sku": sku, "quantity": n} for sku, n in back.items()],
            "exchange": [{"sku": sku, "quantity": n} for sku, n in instead.items()],
            "reason": "wrong size",
        },
        headers=stack.as_role(Role.CUSTOMER, "c-42"),
    )


async def inspected(stack: Stack, rma: str) -> dict[str, Any]:
    async def passed() -> dict[str, Any] | None:
        answer = await stack.api.post(
            f"/warehouse/returns/{rma}/inspection",
            json={"verdict": "pass"},
            headers=stack.as_role(Role.WAREHOUSE, "wu"),
        )
        return answer.json() if answer.status_code == 200 else None

    return await eventually(stack, passed, f"{rma} to be inspected")


async def replacement_delivered(stack: Stack, order_id: str, package: int) -> None:
    async def labelled() -> str | None:
        packages = (await get_order(stack, order_id))["packages"]
        found = [p for p in packages if p["number"] == package and p.get("tracking_number")]
        return found[0]["tracking_number"] if found else None

    tracking = await eventually(stack, labelled, f"package {package}'s label")
    await report(stack, tracking, "picked_up", T0 + timedelta(days=3))
    await report(stack, tracking, "delivered", T0 + timedelta(days=4))


async def rma_note(stack: Stack, order_id: str, wanted: str) -> str:
    async def noted() -> str | None:
        [row] = (await stack.api.get(f"/orders/{order_id}/returns")).json()
        return row["note"] if wanted in (row["note"] or "") else None

    return await eventually(stack, noted, f"the RMA to say {wanted!r}")


async def test_an_even_exchange_ships_the_replacement_reserved_at_acceptance(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    reserved = stock(sessions, "TEA-001", "HZ")[1]

    opened = await exchange(stack, order_id, {"TEA-001": 1}, {"TEA-001": 1})

    assert opened.status_code == 201, opened.text
    body = opened.json()
    assert body["difference"] == 0 and body["payment"] is None
    assert body["replacement"]["package"] == 101
    assert stock(sessions, "TEA-001", "HZ")[1] == reserved + 1  # held for the replacement
    await scan(stack, body["rma"], "TEA-001")
    passed = await inspected(stack, body["rma"])
    assert passed["status"] == "passed"

    await replacement_delivered(stack, order_id, 101)
    assert "replacement delivered" in await rma_note(stack, order_id, "replacement delivered")
    assert refunds(sessions, order_id) == [] and at_provider(payments, sessions, order_id) == []
    assert ledger(sessions, order_id, "ship")[-1][1:] == (101, "TEA-001", "HZ", 1)
    assert stock(sessions, "TEA-001", "HZ")[1] == reserved
    await stack.keep_return_history(body["rma"], "even_exchange_delivered")


async def test_a_cheaper_exchange_refunds_the_difference(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]

    opened = await exchange(stack, order_id, {"TEA-001": 2}, {"CUP-002": 1})

    body = opened.json()
    assert opened.status_code == 201 and body["difference"] == 2_400 - 3_600
    await scan(stack, body["rma"], "TEA-001", 2)
    await inspected(stack, body["rma"])
    await eventually(
        stack,
        lambda: _refunded(payments, sessions, order_id),
        "the difference to be refunded",
    )
    assert at_provider(payments, sessions, order_id) == [1_200]


async def _refunded(
    payments: StripePayments, sessions: SessionFactory, order_id: str
) -> bool | None:
    return True if at_provider(payments, sessions, order_id) else None


async def test_a_dearer_exchange_is_paid_for_before_the_replacement_ships(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]

    opened = await exchange(stack, order_id, {"TEA-001": 1}, {"CUP-002": 1})

    body = opened.json()
    assert opened.status_code == 201, opened.text
    assert body["difference"] == 600
    payment = body["payment"]
    assert (payment["amount"], payment["currency"]) == (600, "usd") and payment["client_secret"]
    await scan(stack, body["rma"], "TEA-001")
    await inspected(stack, body["rma"])
    assert pay(localstripe_url, payment["payment_intent_id"]) == "succeeded"
    await stack.env.sleep(timedelta(minutes=20))  # the exchange asks Stripe every 15 minutes

    await replacement_delivered(stack, order_id, 101)
    assert "replacement delivered" in await rma_note(stack, order_id, "replacement delivered")
    await stack.keep_return_history(body["rma"], "dearer_exchange_paid_then_delivered")


async def test_a_dearer_exchange_not_paid_in_time_is_refunded_instead(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    body = (await exchange(stack, order_id, {"TEA-001": 1}, {"CUP-002": 1})).json()
    reserved = stock(sessions, "CUP-002", "HZ")[1]
    await scan(stack, body["rma"], "TEA-001")
    await inspected(stack, body["rma"])

    await stack.env.sleep(timedelta(days=4))

    note = await rma_note(stack, order_id, "not paid for in time")
    assert "refund" in note
    await eventually(
        stack, lambda: _refunded(payments, sessions, order_id), "the return to be refunded"
    )
    assert at_provider(payments, sessions, order_id) == [1_800]
    assert stock(sessions, "CUP-002", "HZ")[1] == reserved - 1  # the replacement released


async def test_an_exchange_nobody_has_the_stock_for_is_refused(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    before = stock(sessions, "POT-004", "HZ")

    opened = await exchange(stack, order_id, {"TEA-001": 1}, {"POT-004": 500})

    assert opened.status_code == 409, opened.text
    assert "no warehouse holds everything" in opened.json()["error"]["message"]
    assert stock(sessions, "POT-004", "HZ") == before
    assert (await stack.api.get(f"/orders/{order_id}/returns")).json() == []
