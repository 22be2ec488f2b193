"""Refunds racing other changes to the same order, on the real dev server: one wins, the
other gets a 409 that says why, and the money moves once (the ledger and the provider
agree, and never give back more than was paid)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from domain.access import Role
from domain.contract import OrderSignal, order_workflow_id
from domain.order import OrderStatus
from domain.reconciliation import FoundRefund
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory
from tests.api.test_refunds import at_provider, delivered_order
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    T0,
    lines,
    paid_and_labelled,
    refunds,
    report,
    wait_for,
)

pytestmark = pytest.mark.integration

ROUNDS = 3


async def refund(stack: Stack, order_id: str, key: str, **body: Any) -> httpx.Response:
    headers = stack.as_role(Role.FINANCE, "lee") | {"Idempotency-Key": key}
    return await stack.api.post(
        f"/orders/{order_id}/refunds", json={"reason": "race", **body}, headers=headers
    )


async def returned_order(stack: Stack, localstripe_url: str) -> str:
    """Two TEA-001, paid, picked up and brought back: on hold, both cancellable and
    refundable."""
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    await report(stack, package["tracking_number"], "picked_up", T0)
    await report(stack, package["tracking_number"], "returned", T0 + timedelta(days=1))
    await wait_for(stack, order["id"], OrderStatus.ON_HOLD, "package 1 returned")
    return str(order["id"])


def money_moved_once(
    payments: StripePayments, sessions: SessionFactory, order_id: str, total: int
) -> list[int]:
    ledger = sorted(r.amount for r in refunds(sessions, order_id) if r.status == "refunded")
    assert ledger == at_provider(payments, sessions, order_id)
    assert sum(ledger) <= total
    return ledger


async def test_a_refund_racing_a_cancellation(
    dev_stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    for round_ in range(ROUNDS):
        order_id = await returned_order(dev_stack, localstripe_url)
        refunded, cancelled = await asyncio.gather(
            refund(
                dev_stack, order_id, f"race-{round_}", lines=[{"sku": "TEA-001", "quantity": 1}]
            ),
            dev_stack.api.post(f"/orders/{order_id}/cancel", json={"reason": "race"}),
        )

        answers = sorted([refunded.status_code, cancelled.status_code])
        assert answers in ([200, 409], [201, 409]), (refunded.text, cancelled.text)
        loser = refunded if refunded.status_code == 409 else cancelled
        assert loser.json()["error"]["code"] == "action_refused"
        ledger = money_moved_once(payments, sessions, order_id, 3_600)
        assert ledger == ([1_800] if refunded.status_code == 201 else [3_600])


async def test_two_refunds_of_the_same_line_at_once(
    dev_stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    for round_ in range(ROUNDS):
        order_id = await returned_order(dev_stack, localstripe_url)
        line = [{"sku": "TEA-001", "quantity": 2}]
        first, second = await asyncio.gather(
            refund(dev_stack, order_id, f"a-{round_}", lines=line),
            refund(dev_stack, order_id, f"b-{round_}", lines=line),
        )

        assert sorted([first.status_code, second.status_code]) == [201, 409], (
            first.text,
            second.text,
        )
        assert money_moved_once(payments, sessions, order_id, 3_600) == [3_600]


async def test_a_refund_racing_one_reconciliation_found_at_the_dashboard(
    dev_stack: Stack, localstripe_url: str
) -> None:
    """Both count, under the order's lock: what is left afterwards is the payment less both."""
    for round_ in range(ROUNDS):
        order_id = (await delivered_order(dev_stack, localstripe_url))["id"]
        found = FoundRefund(
            order_id=order_id, refund_id=f"re_dash_{round_}", amount=300, currency="usd", run_id=7
        )
        order = dev_stack.client.get_workflow_handle(order_workflow_id(order_id))

        refunded, _ = await asyncio.gather(
            refund(dev_stack, order_id, f"race-found-{round_}", amount=500),
            order.signal(OrderSignal.REFUND_FOUND, found),
        )

        assert refunded.status_code == 201, refunded.text
        await wait_for(dev_stack, order_id, OrderStatus.PARTIALLY_REFUNDED, found.refund_id)
        too_much = await refund(dev_stack, order_id, f"rest-{round_}-a", amount=3_600 - 799)
        assert too_much.status_code == 409, too_much.text
        rest = await refund(dev_stack, order_id, f"rest-{round_}-b", amount=3_600 - 800)
        assert rest.status_code == 201, rest.text
        await wait_for(dev_stack, order_id, OrderStatus.REFUNDED)
