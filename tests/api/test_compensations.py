"""Batch compensation (price protection) through the API, with the real worker, database and
localstripe: every order of a SKU paid in the range gets its share back once — a closed
order by the batch, a running one by its own workflow — however often the batch starts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from config.settings import get_settings
from domain.access import Role
from domain.order import OrderStatus
from integrations.payments.stripe import StripePayments
from orderflow.cli import app
from store.db import SessionFactory
from tests.api.test_refunds import at_provider, delivered_order
from tests.conftest import Stack
from tests.workflows.shipping_support import eventually, get_order, refunds, wait_for

NOW = datetime.now(UTC)
BATCH = {
    "sku": "TEA-001",
    "paid_from": (NOW - timedelta(days=400)).isoformat(),
    "paid_until": (NOW + timedelta(days=4000)).isoformat(),
    "per_unit": 300,
    "reason": "price dropped to 15.00",
}


async def start(stack: Stack, role: Role = Role.FINANCE, **changes: Any) -> Any:
    return await stack.api.post(
        "/compensations", json=BATCH | changes, headers=stack.as_role(role, "lee")
    )


async def test_each_order_gets_its_share_once_however_often_the_batch_starts(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    closed = (await delivered_order(stack, localstripe_url, tea=2))["id"]
    await stack.api.post(f"/orders/{closed}/confirm-receipt", json={})
    await wait_for(stack, closed, OrderStatus.COMPLETED)
    running = (await delivered_order(stack, localstripe_url, tea=1))["id"]

    first = await start(stack)
    assert first.status_code == 202, first.text
    batch_id = first.json()["batch_id"]

    async def finished() -> dict[str, Any] | None:
        answer = await stack.api.get(f"/compensations/{batch_id}")
        assert answer.status_code == 200, answer.text
        return answer.json() if answer.json()["done"] else None

    progress = await eventually(stack, finished, "the batch to finish")
    assert (progress["orders"], progress["refunded"], progress["told"]) == (2, 1, 1)
    assert progress["amount"] == 600
    await eventually(stack, lambda: _refunded(sessions, running), "the running order's refund")

    await stack.keep_compensation_history(batch_id, "one_closed_order_one_running")
    await stack.keep_history(running, "compensated_while_delivered")
    again = await start(stack)  # the same batch: found, not run again
    assert again.json()["batch_id"] == batch_id
    assert [r.amount for r in refunds(sessions, closed)] == [600]
    assert [r.amount for r in refunds(sessions, running)] == [300]
    assert at_provider(payments, sessions, closed) == [600]
    assert at_provider(payments, sessions, running) == [300]
    note = (await get_order(stack, running))["timeline"][-1]["note"]
    said = "refunded 3.00 USD (batch compensation, TEA-001): price dropped to 15.00"
    assert note == f"{said} (by finance:lee)"
    # The running order counts it: only what is left can still be refunded.
    rest = await stack.api.post(
        f"/orders/{running}/refunds",
        json={"reason": "rest"},
        headers=stack.as_role(Role.FINANCE, "lee") | {"Idempotency-Key": "rest"},
    )
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == 1_800 - 300


async def _refunded(sessions: SessionFactory, order_id: str) -> bool | None:
    return True if refunds(sessions, order_id) else None


async def test_only_finance_starts_a_batch_and_a_bad_range_is_refused(stack: Stack) -> None:
    assert (await start(stack, Role.SUPPORT)).status_code == 403
    backwards = await start(stack, paid_until=BATCH["paid_from"])
    assert backwards.status_code == 422, backwards.text
    unknown = await stack.api.get("/compensations/comp-0000000000000000")
    assert unknown.status_code == 404


async def test_the_command_line_runs_a_batch_to_its_end_with_a_progress_bar(
    stack: Stack,
    localstripe_url: str,
    sessions: SessionFactory,
    payments: StripePayments,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order_id = (await delivered_order(stack, localstripe_url, tea=3))["id"]
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERFLOW_TEMPORAL_ADDRESS", stack.client.service_client.config.target_host)
    get_settings.cache_clear()
    arguments = [
        "compensate",
        "--sku", "TEA-001",
        "--paid-from", BATCH["paid_from"][:19],
        "--paid-until", BATCH["paid_until"][:19],
        "--per-unit", "100",
        "--reason", "price dropped",
        "--task-queue", stack.worker.task_queue,
    ]  # fmt: skip
    try:
        ran = await asyncio.to_thread(CliRunner().invoke, app, arguments)
    finally:
        get_settings.cache_clear()

    assert ran.exit_code == 0, ran.output
    assert "1 orders" in ran.output and "1/1" in ran.output
    await eventually(stack, lambda: _refunded(sessions, order_id), "the order's refund")
    assert at_provider(payments, sessions, order_id) == [300]
