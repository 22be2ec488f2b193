"""Stock steps that run again after they, and the steps after them, committed.

A local activity's result reaches the history only with the workflow task that ran it. When
the worker dies, or the database drops the connection after a commit, before that task is
recorded, the next worker replays the workflow and runs the lost steps again, in order: each
one then meets a database where it, and the steps after it in the same task, already
happened. Each step must give the answer it gave the first time, and move stock only once.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from temporalio.testing import ActivityEnvironment

from activities.inventory import InventoryActivities
from activities.orders import OrderActivities
from activities.shipments import ShipmentActivities
from domain.messages import PackageReservation, StockQuery, StockRequest, TransitionRecord
from domain.order import OrderStatus
from domain.shipping import (
    HandOver,
    LabelRequest,
    LabelView,
    ParcelPreparation,
    PreparedParcel,
)
from domain.sla import SlaRules, Stage
from domain.splitting import Package, PackageLine
from store.db import SessionFactory, transaction
from store.models import Order, OrderEvent
from store.repositories import ShipmentRepository, StockRepository
from tests.activities.support import stored_order

ORDER = "web-RUN-AGAIN"
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEA = Package(
    number=1,
    warehouse="HZ",
    lines=[PackageLine(sku="TEA-001", quantity=2)],
    reasons=["test"],
    weight_grams=600,
    value=3600,
)
MOONCAKES = Package(
    number=2,
    warehouse="SH",
    lines=[PackageLine(sku="MOON-003", quantity=1)],
    reasons=["test"],
    weight_grams=900,
    value=3200,
    cold_chain=True,
)


@pytest.fixture
def order(sessions: SessionFactory) -> str:
    return stored_order(sessions, ORDER, "c-again", OrderStatus.ALLOCATED, total=6800)


def test_a_transition_run_again_or_landing_late_leaves_the_newest_status(
    sessions: SessionFactory, order: str
) -> None:
    steps, env = OrderActivities(sessions), ActivityEnvironment()
    allocated = TransitionRecord(order_id=order, seq=1, status=OrderStatus.ALLOCATED, at=AT)
    shipped = TransitionRecord(order_id=order, seq=2, status=OrderStatus.FULFILLING, at=AT)
    env.run(steps.record_transition, shipped)
    env.run(steps.record_transition, allocated)  # an earlier step's retry, landing late
    env.run(steps.record_transition, shipped)  # run again after its commit
    with transaction(sessions) as session:
        stored = session.get(Order, order)
        assert stored is not None and stored.status == OrderStatus.FULFILLING
        events = select(OrderEvent.status).where(OrderEvent.order_id == order)
        timeline = session.scalars(events.order_by(OrderEvent.seq)).all()
    assert timeline == [OrderStatus.ALLOCATED, OrderStatus.FULFILLING]


def reserve(
    inventory: InventoryActivities, *packages: Package, round_: int = 1
) -> list[tuple[str, str, int]]:
    request = PackageReservation(order_id=ORDER, round=round_, packages=list(packages))
    result = ActivityEnvironment().run(inventory.reserve_packages, request)
    return [(a.sku, a.warehouse, a.quantity) for a in result.allocations]


def label_request(package: int) -> LabelRequest:
    return LabelRequest(
        shipment_id=f"shipment-{ORDER}-{package}",
        order_id=ORDER,
        package=package,
        warehouse="HZ",
        weight_grams=600,
        insured_value=0,
        carrier="sandbox",
        transaction_id=f"{ORDER}/1/{package}",
    )


def labelled(sessions: SessionFactory, package: int) -> HandOver:
    """The package's shipment with its label, as buy_label leaves it."""
    request = label_request(package)
    with transaction(sessions) as session:
        ShipmentRepository(session).record_label(
            request,
            LabelView(carrier="sandbox", label_id=f"lbl-{package}", tracking_number=f"T{package}"),
        )
    return HandOver(shipment_id=request.shipment_id, order_id=ORDER, package=package, at=AT)


def held_and_shipped(sessions: SessionFactory) -> tuple[int, int]:
    """Units of the order still reserved, and units that left with the carrier."""
    with transaction(sessions) as session:
        stock = StockRepository(session)
        held = sum(m.quantity for m in stock.held_by(ORDER))
        shipped = sum(m.quantity for m in stock.movements_of(ORDER) if m.kind == "ship")
    return held, shipped


def test_the_stock_check_run_again_after_the_hand_over_still_finds_the_packages_stock(
    sessions: SessionFactory, order: str
) -> None:
    """The shipment's first task checked the stock, bought the label and handed the parcel
    over (a pickup was already waiting); the worker died before recording it. The replay
    checks again: the units left with this very parcel, they were not taken from it."""
    reserve(InventoryActivities(sessions), TEA, MOONCAKES)
    shipping = ShipmentActivities(sessions, carriers={})
    step = ActivityEnvironment()
    hand_over = labelled(sessions, 1)
    assert step.run(shipping.check_package_stock, hand_over) is True
    assert step.run(shipping.hand_over, hand_over) == 2

    assert step.run(shipping.check_package_stock, hand_over) is True  # the replay
    assert step.run(shipping.hand_over, hand_over) == 0  # nothing ships twice
    assert held_and_shipped(sessions) == (1, 2)


def test_the_stock_check_still_refuses_a_package_whose_stock_was_released(
    sessions: SessionFactory, order: str
) -> None:
    """What the check is for: a package whose reservation was given back never leaves."""
    reserve(InventoryActivities(sessions), TEA, MOONCAKES)
    with transaction(sessions) as session:
        StockRepository(session).release_packages(ORDER, [1])
    check = ShipmentActivities(sessions, carriers={}).check_package_stock
    assert ActivityEnvironment().run(check, labelled(sessions, 1)) is False
    assert ActivityEnvironment().run(check, labelled(sessions, 2)) is True


def test_the_parcel_prepared_again_after_the_hand_over_keeps_its_label_and_its_stock(
    sessions: SessionFactory, order: str
) -> None:
    """The same for the parcel an order runs, whose stock check, label and stage limits are
    one step: run again after the hand-over, it is still ready, with the label it bought."""
    reserve(InventoryActivities(sessions), TEA, MOONCAKES)
    shipping = ShipmentActivities(sessions, carriers={})  # no carrier: no second label
    step = ActivityEnvironment()
    hand_over = labelled(sessions, 1)
    preparation = ParcelPreparation(label=label_request(1), sla=SlaRules())
    first = step.run(shipping.prepare_parcel, preparation)
    assert first.label == LabelView(carrier="sandbox", label_id="lbl-1", tracking_number="T1")
    assert set(first.limits) == set(Stage)
    assert step.run(shipping.hand_over, hand_over) == 2

    assert step.run(shipping.prepare_parcel, preparation) == first  # the replay
    assert held_and_shipped(sessions) == (1, 2)


def test_the_parcel_whose_stock_was_released_is_not_prepared(
    sessions: SessionFactory, order: str
) -> None:
    reserve(InventoryActivities(sessions), TEA, MOONCAKES)
    labelled(sessions, 1)
    with transaction(sessions) as session:
        StockRepository(session).release_packages(ORDER, [1])
    prepare = ShipmentActivities(sessions, carriers={}).prepare_parcel
    preparation = ParcelPreparation(label=label_request(1), sla=SlaRules())
    assert ActivityEnvironment().run(prepare, preparation) == PreparedParcel()


def test_the_stock_snapshot_run_again_after_the_reservation_plans_the_same_packages(
    sessions: SessionFactory, order: str
) -> None:
    """Snapshot, plan and reserve run in one workflow task; replayed, the snapshot must not
    count the order's own reservation as stock gone, or the planner picks other warehouses
    than the ones the reservation holds."""
    inventory = InventoryActivities(sessions)
    query = StockQuery(order_id=ORDER, skus=["MOON-003", "TEA-001"])
    before = ActivityEnvironment().run(inventory.stock_snapshot, query)
    reserve(inventory, TEA, MOONCAKES)

    assert ActivityEnvironment().run(inventory.stock_snapshot, query) == before
    other = query.model_copy(update={"order_id": "web-SOMEONE-ELSE"})
    free = {
        w.code: w.available
        for w in ActivityEnvironment().run(inventory.stock_snapshot, other).warehouses
    }
    assert (free["HZ"]["TEA-001"], free["SH"]["MOON-003"]) == (498, 79)  # gone for others


def test_a_reservation_run_again_after_its_commit_answers_the_same_and_takes_nothing(
    sessions: SessionFactory, order: str
) -> None:
    inventory = InventoryActivities(sessions)
    first = reserve(inventory, TEA, MOONCAKES)
    assert reserve(inventory, TEA, MOONCAKES) == first
    assert held_and_shipped(sessions) == (3, 0)


def test_the_lapsed_pre_reservations_release_run_again_keeps_the_next_rounds_reservation(
    sessions: SessionFactory, order: str
) -> None:
    """An unpaid pre-reservation lapsed and was released; the payment arrived and the same
    workflow task reserved again, in round 2. Replayed, the release runs again: it gives back
    round 1 (already given back), never the reservation the paid order now holds."""
    inventory = InventoryActivities(sessions)
    lapsed = StockRequest(order_id=ORDER, round=1)
    reserve(inventory, TEA)
    assert ActivityEnvironment().run(inventory.release_stock, lapsed) == 2
    reserve(inventory, TEA, round_=2)

    assert ActivityEnvironment().run(inventory.release_stock, lapsed) == 2  # the same answer
    assert held_and_shipped(sessions) == (2, 0)
    with transaction(sessions) as session:
        held = [m.reference for m in StockRepository(session).held_by(ORDER)]
    assert held == [f"{ORDER}/2/1"]


def test_an_attempt_that_waited_for_another_attempt_of_its_round_answers_with_its_reservation(
    engine: Engine, sessions: SessionFactory, order: str
) -> None:
    """An attempt timed out on a slow database while its transaction went on; the retry
    queues behind it for the same rows. Once the first commits, the units are gone, but to
    this very round: the retry answers with that reservation, not with "stock moved" (which
    would make the workflow plan again and keep a plan the database does not hold)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("two attempts inside the database at once: PostgreSQL row locks")
    with transaction(sessions) as session:
        StockRepository(session).receive("scarce", "POT-004", "SH", 1)  # 1 free in SH
    scarce = Package(
        number=1,
        warehouse="SH",
        lines=[PackageLine(sku="POT-004", quantity=1)],
        reasons=["test"],
        weight_grams=600,
        value=68000,
    )
    inventory = InventoryActivities(sessions)
    answers: list[object] = []

    def retry() -> None:
        try:
            answers.append(reserve(inventory, scarce))
        except Exception as error:  # the assertion below shows what it was
            answers.append(error)

    with transaction(sessions) as first:
        StockRepository(first).reserve_packages(ORDER, 1, [scarce])
        second = threading.Thread(target=retry)
        second.start()
        time.sleep(0.5)  # the retry waits on the rows the first attempt holds
    second.join(timeout=30)
    assert answers == [[("POT-004", "SH", 1)]]
    assert held_and_shipped(sessions) == (1, 0)
