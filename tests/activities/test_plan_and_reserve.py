"""Intake's stock step (the order's fifth shape): plan the packages from live stock and reserve
them, all or nothing, in one step that keeps the plan it reserved.

Run again after its commit (the worker died before the workflow task that ran it was
recorded), the step must answer with the plan that round holds, and take nothing more.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

import activities.inventory
from activities.inventory import InventoryActivities
from domain.messages import PlannedReservation, PlanRequest
from domain.order import OrderStatus
from domain.rules import SplitRules
from domain.splitting import (
    GeoPoint,
    Package,
    PackageLine,
    PlanLine,
    SplitPlan,
    WarehouseStock,
    plan_or_problem,
)
from store.db import SessionFactory, transaction
from store.repositories import StockRepository
from tests.activities.support import stored_order

ORDER = "web-PLAN-RESERVE"
TEA = PlanLine(sku="TEA-001", quantity=2, unit_price=1800, weight_grams=300)
MOONCAKES = PlanLine(sku="MOON-003", quantity=1, unit_price=3200, weight_grams=900, cold_chain=True)


@pytest.fixture
def order(sessions: SessionFactory) -> str:
    return stored_order(sessions, ORDER, "c-plan", OrderStatus.PENDING_PAYMENT, total=6800)


def plan_and_reserve(
    sessions: SessionFactory, *lines: PlanLine, round_: int = 1
) -> PlannedReservation:
    request = PlanRequest(order_id=ORDER, round=round_, lines=list(lines), splitting=SplitRules())
    return ActivityEnvironment().run(InventoryActivities(sessions).plan_and_reserve, request)


def held(sessions: SessionFactory, order_id: str = ORDER) -> list[tuple[str, str, int]]:
    """The order's reserved units: (SKU, warehouse, units)."""
    with transaction(sessions) as session:
        return sorted(
            (m.sku, m.warehouse, m.quantity) for m in StockRepository(session).held_by(order_id)
        )


def shipped_from(plan: SplitPlan | None) -> list[tuple[str, str, int]]:
    assert plan is not None
    return sorted(
        (line.sku, package.warehouse, line.quantity)
        for package in plan.packages
        for line in package.lines
    )


def test_the_order_is_planned_from_live_stock_and_reserved_as_planned(
    sessions: SessionFactory, order: str
) -> None:
    planned = plan_and_reserve(sessions, TEA, MOONCAKES)

    # Shanghai holds both lines, so both come from there; the cold mooncakes in a parcel apart.
    assert shipped_from(planned.plan) == [("MOON-003", "SH", 1), ("TEA-001", "SH", 2)]
    assert planned.plan is not None and len(planned.plan.packages) == 2
    assert held(sessions) == shipped_from(planned.plan)
    with transaction(sessions) as session:
        assert StockRepository(session).plan_of_round(ORDER, 1) == planned.plan


def test_run_again_after_its_commit_it_answers_with_its_plan_and_takes_nothing(
    sessions: SessionFactory, order: str
) -> None:
    first = plan_and_reserve(sessions, TEA, MOONCAKES)
    # Meanwhile Hangzhou, the customer's city, receives mooncakes: planned again from live
    # stock, the order would now ship from there.
    with transaction(sessions) as session:
        StockRepository(session).receive("restock", "MOON-003", "HZ", 10)

    assert plan_and_reserve(sessions, TEA, MOONCAKES) == first
    assert held(sessions) == [("MOON-003", "SH", 1), ("TEA-001", "SH", 2)]


def test_run_again_it_answers_with_its_plan_even_where_planning_now_finds_too_little(
    sessions: SessionFactory, order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = plan_and_reserve(sessions, TEA, MOONCAKES)
    monkeypatch.setattr(
        activities.inventory, "plan_or_problem", lambda *_: "out of stock: TEA-001 short by 2"
    )

    assert plan_and_reserve(sessions, TEA, MOONCAKES) == first
    assert held(sessions) == [("MOON-003", "SH", 1), ("TEA-001", "SH", 2)]


def test_an_order_out_of_stock_is_told_why_and_reserves_nothing(
    sessions: SessionFactory, order: str
) -> None:
    too_many = TEA.model_copy(update={"quantity": 701})  # 500 in Hangzhou, 200 in Shanghai

    planned = plan_and_reserve(sessions, MOONCAKES, too_many)

    assert planned == PlannedReservation(problem="out of stock: TEA-001 short by 1")
    assert held(sessions) == []
    with transaction(sessions) as session:
        assert StockRepository(session).plan_of_round(ORDER, 1) is None


def test_stock_taken_between_the_snapshot_and_the_reservation_means_planning_again(
    sessions: SessionFactory, order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another order takes Hangzhou's tea after this step read the stock and before it
    reserved: the reservation finds the units gone, and the step plans again from what is
    left, in Shanghai."""
    plans: list[SplitPlan | str] = []

    def planned_as_another_order_takes_the_tea(
        lines: list[PlanLine],
        destination: GeoPoint | None,
        warehouses: list[WarehouseStock],
        rules: SplitRules,
    ) -> SplitPlan | str:
        plans.append(plan_or_problem(lines, destination, warehouses, rules))
        if len(plans) == 1:
            with transaction(sessions) as session:
                gone = Package(
                    number=1,
                    warehouse="HZ",
                    lines=[PackageLine(sku="TEA-001", quantity=500)],
                    reasons=["test"],
                    weight_grams=0,
                    value=0,
                )
                StockRepository(session).reserve_packages("web-FASTER", 1, [gone])
        return plans[-1]

    monkeypatch.setattr(
        activities.inventory, "plan_or_problem", planned_as_another_order_takes_the_tea
    )
    planned = plan_and_reserve(sessions, TEA)

    assert [shipped_from(p) for p in plans if isinstance(p, SplitPlan)] == [
        [("TEA-001", "HZ", 2)],
        [("TEA-001", "SH", 2)],
    ]
    assert shipped_from(planned.plan) == [("TEA-001", "SH", 2)]
    assert held(sessions) == [("TEA-001", "SH", 2)]


def test_a_new_round_plans_and_reserves_anew(sessions: SessionFactory, order: str) -> None:
    """A lapsed pre-reservation gave round 1 back; the payment reserves round 2."""
    plan_and_reserve(sessions, TEA)
    with transaction(sessions) as session:
        StockRepository(session).release_round(ORDER, 1)

    again = plan_and_reserve(sessions, TEA, round_=2)

    assert shipped_from(again.plan) == [("TEA-001", "HZ", 2)]
    assert held(sessions) == [("TEA-001", "HZ", 2)]


def test_two_attempts_of_a_round_at_once_reserve_it_once(
    engine: Engine, sessions: SessionFactory, order: str
) -> None:
    """An attempt timed out on a slow database while its transaction went on, and the retry
    planned meanwhile: it waits on the round's plan until the first commits, then answers with
    that plan and takes nothing."""
    if engine.dialect.name != "postgresql":
        pytest.skip("two attempts inside the database at once: PostgreSQL row locks")
    first_plan = plan_or_problem(
        [TEA],
        GeoPoint(lat=30.3, lon=120.2),
        [WarehouseStock(code="SH", location=GeoPoint(lat=31.2, lon=121.5), available={TEA.sku: 9})],
        SplitRules(),
    )
    assert isinstance(first_plan, SplitPlan)  # from Shanghai: the retry would plan Hangzhou
    answers: list[object] = []

    def retry() -> None:
        try:
            answers.append(plan_and_reserve(sessions, TEA).plan)
        except Exception as error:  # the assertion below shows what it was
            answers.append(error)

    with transaction(sessions) as first:
        StockRepository(first).reserve_plan(ORDER, 1, first_plan)
        second = threading.Thread(target=retry)
        second.start()
        time.sleep(0.5)  # the retry waits on the round's plan the first attempt wrote
    second.join(timeout=30)
    assert answers == [first_plan]
    assert held(sessions) == [("TEA-001", "SH", 2)]
