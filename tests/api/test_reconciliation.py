"""Stock reconciliation through the API, with the real worker and database: seeded
differences of each class are each found once and nothing else is; each alerts the warehouse
once however often the run is repeated; nothing is changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from domain.access import Role
from domain.contract import MovementKind
from domain.order import OrderStatus
from store.db import SessionFactory, transaction
from store.models import StockLevel, StockMovement
from tests.api.test_refunds import delivered_order
from tests.conftest import Stack
from tests.workflows.shipping_support import alerts, eventually, stock, wait_for


async def reconcile(
    stack: Stack, asked: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A run through the API (the warehouse's stock run unless told), followed to its end."""
    headers = headers or stack.as_role(Role.WAREHOUSE, "wu")
    started = await stack.api.post("/reconciliation/runs", json=asked or {}, headers=headers)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]

    async def finished() -> dict[str, Any] | None:
        answer = await stack.api.get(f"/reconciliation/runs/{run_id}?limit=500", headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body if body["run"]["finished_at"] else None

    return await eventually(stack, finished, f"run {run_id} to finish", steps=600)


def seed_differences(sessions: SessionFactory, ended_order: str) -> None:
    """A level three units above its ledger, and two units left reserved for an order that
    ended (its level raised with them, so only the leak differs there)."""
    with transaction(sessions) as session:
        session.execute(
            update(StockLevel)
            .where(StockLevel.sku == "CUP-002", StockLevel.warehouse == "HZ")
            .values(on_hand=StockLevel.on_hand + 3)
        )
        session.add(
            StockMovement(
                reference=f"{ended_order}/9/9", order_id=ended_order, package=9, sku="POT-004",
                warehouse="HZ", kind=MovementKind.RESERVE, quantity=2,
            )
        )  # fmt: skip
        session.execute(
            update(StockLevel)
            .where(StockLevel.sku == "POT-004", StockLevel.warehouse == "HZ")
            .values(reserved=StockLevel.reserved + 2)
        )


async def test_each_seeded_difference_is_found_once_and_nothing_else(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    await stack.api.post(f"/orders/{order_id}/confirm-receipt", json={})
    await wait_for(stack, order_id, OrderStatus.COMPLETED)
    clean = await reconcile(stack)
    assert clean["run"]["differences"] == 0 and clean["differences"] == []
    seed_differences(sessions, order_id)
    levels = stock(sessions, "CUP-002", "HZ"), stock(sessions, "POT-004", "HZ")

    found = await reconcile(stack)

    assert found["run"]["by"] == "warehouse:wu"
    assert sorted((d["kind"], d["subject"]) for d in found["differences"]) == [
        ("leaked_reservation", f"{order_id}:POT-004@HZ"),
        ("level_mismatch", "CUP-002@HZ"),
    ]
    assert len(await alerts(stack, "stock_mismatch")) == 2
    again = await reconcile(stack)
    assert again["run"]["differences"] == 2
    assert len(await alerts(stack, "stock_mismatch")) == 2  # nothing new to look at
    assert (stock(sessions, "CUP-002", "HZ"), stock(sessions, "POT-004", "HZ")) == levels
    runs = (await stack.api.get("/reconciliation/runs", headers=stack.as_role(Role.FINANCE))).json()
    assert [run["differences"] for run in runs["items"]] == [2, 2, 0]


async def test_who_may_reconcile_and_what_is_refused(stack: Stack) -> None:
    support = stack.as_role(Role.SUPPORT, "ana")
    finance = stack.as_role(Role.FINANCE, "lee")
    assert (
        await stack.api.post("/reconciliation/runs", json={}, headers=support)
    ).status_code == 403
    assert (await stack.api.get("/reconciliation/runs/424242", headers=finance)).status_code == 404
    bad = await stack.api.get("/reconciliation/runs?cursor=x'--", headers=finance)
    assert bad.status_code == 400
    huge = await stack.api.get(f"/reconciliation/runs/{10**30}", headers=finance)
    assert huge.status_code == 422
