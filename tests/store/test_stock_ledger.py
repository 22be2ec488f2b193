"""The stock ledger: reservations are atomic and happen once; levels always match the ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from domain.errors import OutOfStock
from domain.messages import Allocation, OrderedLine
from domain.splitting import Package, PackageLine
from store.db import SessionFactory, transaction
from store.models import (
    MOVEMENT_EFFECTS,
    MovementKind,
    StockLevel,
    StockMovement,
    ledger_balance,
)
from store.repositories import StockRepository
from store.seed import STOCK


def levels(sessions: SessionFactory) -> dict[tuple[str, str], tuple[int, int]]:
    with transaction(sessions) as session:
        rows = session.scalars(select(StockLevel)).all()
        return {(r.sku, r.warehouse): (r.on_hand, r.reserved) for r in rows}


def movements(sessions: SessionFactory, reference: str) -> list[tuple[str, str, str, int]]:
    with transaction(sessions) as session:
        rows = session.scalars(
            select(StockMovement)
            .where(StockMovement.reference == reference)
            .order_by(StockMovement.id)
        ).all()
        return [(m.kind, m.sku, m.warehouse, m.quantity) for m in rows]


def reserve(sessions: SessionFactory, order_id: str, *lines: tuple[str, int]) -> list[Allocation]:
    with transaction(sessions) as session:
        return StockRepository(session).reserve(
            order_id, [OrderedLine(sku=sku, quantity=q, unit_price=100) for sku, q in lines]
        )


def release(sessions: SessionFactory, order_id: str) -> int:
    with transaction(sessions) as session:
        return StockRepository(session).release(order_id)


def ship(sessions: SessionFactory, order_id: str) -> int:
    with transaction(sessions) as session:
        return StockRepository(session).ship(order_id)


def assert_ledger_reconciles(sessions: SessionFactory) -> None:
    with transaction(sessions) as session:
        totals = StockRepository(session).ledger_totals()
    current = levels(sessions)
    assert set(totals) == set(current)
    for key, (on_hand, reserved) in current.items():
        assert (on_hand, reserved) == ledger_balance(totals[key]), key
        assert 0 <= reserved <= on_hand, key


def test_every_movement_kind_says_what_it_does_to_a_stock_level() -> None:
    assert set(MOVEMENT_EFFECTS) == set(MovementKind)


def test_seeded_levels_match_the_seed_and_the_ledger(sessions: SessionFactory) -> None:
    assert levels(sessions) == {key: (quantity, 0) for key, quantity in STOCK.items()}
    assert_ledger_reconciles(sessions)


def test_reserve_takes_every_line_and_says_where(sessions: SessionFactory) -> None:
    allocations = reserve(sessions, "web-1", ("TEA-001", 3), ("MOON-003", 2))
    assert {(a.sku, a.warehouse, a.quantity) for a in allocations} == {
        ("TEA-001", "HZ", 3),
        ("MOON-003", "SH", 2),
    }
    now = levels(sessions)
    assert now[("TEA-001", "HZ")] == (500, 3)
    assert now[("MOON-003", "SH")] == (80, 2)
    assert now[("TEA-001", "SH")] == (200, 0)
    assert_ledger_reconciles(sessions)


def test_a_line_one_warehouse_cannot_serve_is_taken_from_another(
    sessions: SessionFactory,
) -> None:
    reserve(sessions, "web-big", ("TEA-001", 450))
    allocations = reserve(sessions, "web-next", ("TEA-001", 100))
    assert [(a.warehouse, a.quantity) for a in allocations] == [("SH", 100)]
    assert levels(sessions)[("TEA-001", "SH")] == (200, 100)


def test_reserve_is_all_or_nothing(sessions: SessionFactory) -> None:
    before = levels(sessions)
    # CUP-002 sorts first and could be served; POT-004 (10 units) cannot.
    with pytest.raises(OutOfStock) as short:
        reserve(sessions, "web-short", ("CUP-002", 1), ("POT-004", 11))
    assert "POT-004" in short.value.message
    assert levels(sessions) == before
    assert movements(sessions, "web-short") == []
    # The order can be reserved once its lines fit: nothing half-done is in the way.
    allocations = reserve(sessions, "web-short", ("CUP-002", 1), ("POT-004", 10))
    assert {(a.sku, a.quantity) for a in allocations} == {("CUP-002", 1), ("POT-004", 10)}
    assert_ledger_reconciles(sessions)


def test_stock_never_goes_below_zero(sessions: SessionFactory) -> None:
    reserve(sessions, "web-a", ("POT-004", 10))
    with pytest.raises(OutOfStock):
        reserve(sessions, "web-b", ("POT-004", 1))
    assert levels(sessions)[("POT-004", "HZ")] == (10, 10)


def test_reserving_twice_for_the_same_order_reserves_once(sessions: SessionFactory) -> None:
    first = reserve(sessions, "web-1", ("TEA-001", 2), ("CUP-002", 1))
    again = reserve(sessions, "web-1", ("TEA-001", 2), ("CUP-002", 1))
    assert sorted(a.model_dump().items() for a in again) == sorted(
        a.model_dump().items() for a in first
    )
    now = levels(sessions)
    assert now[("TEA-001", "HZ")] == (500, 2)
    assert now[("CUP-002", "HZ")] == (120, 1)
    assert [m[0] for m in movements(sessions, "web-1")] == ["reserve", "reserve"]
    assert_ledger_reconciles(sessions)


def test_release_gives_back_once(sessions: SessionFactory) -> None:
    reserve(sessions, "web-1", ("TEA-001", 2), ("CUP-002", 1))
    assert release(sessions, "web-1") == 3
    assert release(sessions, "web-1") == 0
    assert levels(sessions) == {key: (quantity, 0) for key, quantity in STOCK.items()}
    assert sorted(m[0] for m in movements(sessions, "web-1")) == [
        "release",
        "release",
        "reserve",
        "reserve",
    ]
    assert_ledger_reconciles(sessions)


def test_release_of_an_order_that_holds_nothing_changes_nothing(
    sessions: SessionFactory,
) -> None:
    before = levels(sessions)
    assert release(sessions, "web-never-reserved") == 0
    assert levels(sessions) == before


def test_ship_after_reserve_lowers_on_hand_and_reserved_once(sessions: SessionFactory) -> None:
    reserve(sessions, "web-1", ("TEA-001", 2))
    reserve(sessions, "web-2", ("TEA-001", 5))
    assert ship(sessions, "web-1") == 2
    assert ship(sessions, "web-1") == 0
    assert levels(sessions)[("TEA-001", "HZ")] == (498, 5)
    assert_ledger_reconciles(sessions)


def test_shipped_stock_cannot_be_released_and_released_stock_cannot_ship(
    sessions: SessionFactory,
) -> None:
    reserve(sessions, "web-shipped", ("CUP-002", 4))
    reserve(sessions, "web-released", ("CUP-002", 6))
    assert ship(sessions, "web-shipped") == 4
    assert release(sessions, "web-shipped") == 0
    assert release(sessions, "web-released") == 6
    assert ship(sessions, "web-released") == 0
    assert levels(sessions)[("CUP-002", "HZ")] == (116, 0)
    assert_ledger_reconciles(sessions)


def test_ledger_reconciles_after_a_mixed_day(sessions: SessionFactory) -> None:
    with transaction(sessions) as session:
        StockRepository(session).receive("po-1", "TEA-001", "SH", 50)
        StockRepository(session).receive("po-1", "TEA-001", "SH", 50)  # a retry: counted once
    for n in range(6):
        reserve(sessions, f"web-{n}", ("TEA-001", 100), ("CUP-002", 3))
    ship(sessions, "web-0")
    ship(sessions, "web-1")
    release(sessions, "web-2")
    release(sessions, "web-3")
    ship(sessions, "web-3")  # released first: nothing left to ship
    with pytest.raises(OutOfStock):
        reserve(sessions, "web-99", ("TEA-001", 400))
    now = levels(sessions)
    assert now[("TEA-001", "HZ")] == (300, 100)  # web-0..4 took HZ; 0, 1 shipped; 2, 3 released
    assert now[("TEA-001", "SH")] == (250, 100)  # web-5 spilled over to SH
    assert_ledger_reconciles(sessions)


def test_ledger_reconciles_after_a_parcel_comes_back(sessions: SessionFactory) -> None:
    parcel = Package(
        number=1,
        warehouse="HZ",
        lines=[PackageLine(sku="TEA-001", quantity=2)],
        reasons=["test"],
        weight_grams=0,
        value=0,
    )
    with transaction(sessions) as session:
        StockRepository(session).reserve_packages("web-back", 1, [parcel])
    with transaction(sessions) as session:
        assert StockRepository(session).ship_package("web-back", 1) == 2
    assert levels(sessions)[("TEA-001", "HZ")] == (498, 0)
    with transaction(sessions) as session:
        assert StockRepository(session).restock_package("web-back", 1) == [("TEA-001", "HZ")]
    assert levels(sessions)[("TEA-001", "HZ")] == (500, 0)
    assert_ledger_reconciles(sessions)
