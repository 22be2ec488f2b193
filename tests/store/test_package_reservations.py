"""Reserving a plan's packages: all or nothing, once per round, released and shipped by order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from domain.errors import StockMoved
from store.db import SessionFactory, transaction
from store.models import StockLevel, StockMovement
from store.repositories import StockRepository
from tests.store.packages import package, reserve


def free(sessions: SessionFactory, sku: str, warehouse: str) -> int:
    with transaction(sessions) as session:
        level = session.get(StockLevel, (sku, warehouse))
        assert level is not None
        return level.on_hand - level.reserved


def ledger(sessions: SessionFactory, order_id: str) -> list[tuple[str, str, str, int]]:
    with transaction(sessions) as session:
        rows = session.scalars(
            select(StockMovement)
            .where(StockMovement.order_id == order_id)
            .order_by(StockMovement.id)
        )
        return [(m.reference, m.kind, m.sku, m.quantity) for m in rows]


def test_two_packages_from_two_warehouses_are_reserved_under_one_key_each(
    sessions: SessionFactory,
) -> None:
    reserved = reserve(
        sessions,
        "o-1",
        1,
        package(1, "HZ", ("TEA-001", 3), ("CUP-002", 1)),
        package(2, "SH", ("MOON-003", 2)),
    )
    assert reserved == 6
    assert free(sessions, "TEA-001", "HZ") == 497
    assert free(sessions, "MOON-003", "SH") == 78
    assert ledger(sessions, "o-1") == [
        ("o-1/1/1", "reserve", "TEA-001", 3),
        ("o-1/1/1", "reserve", "CUP-002", 1),
        ("o-1/1/2", "reserve", "MOON-003", 2),
    ]


def test_a_retried_reservation_reserves_nothing_more(sessions: SessionFactory) -> None:
    plan = [package(1, "HZ", ("TEA-001", 3))]
    reserve(sessions, "o-1", 1, *plan)
    assert reserve(sessions, "o-1", 1, *plan) == 3  # answers with what the first call took
    assert free(sessions, "TEA-001", "HZ") == 497
    assert len(ledger(sessions, "o-1")) == 1


def test_a_round_answers_with_its_own_reservation_only(sessions: SessionFactory) -> None:
    """Round 1's references are a prefix of round 11's, and an order ID may hold LIKE's
    wildcards: neither makes a retried round 1 answer with another round's units."""
    order_id = "web_50%/o-1"
    reserve(sessions, order_id, 11, package(1, "HZ", ("TEA-001", 3)))
    assert reserve(sessions, order_id, 1, package(1, "HZ", ("CUP-002", 1))) == 1
    with transaction(sessions) as session:
        first = StockRepository(session).reserved_in_round(order_id, 1)
    assert [(a.sku, a.quantity) for a in first] == [("CUP-002", 1)]
    assert free(sessions, "TEA-001", "HZ") == 497


def test_one_package_short_rolls_back_the_whole_plan(sessions: SessionFactory) -> None:
    with pytest.raises(StockMoved, match="POT-004"):
        reserve(
            sessions, "o-1", 1, package(1, "HZ", ("TEA-001", 3)), package(2, "HZ", ("POT-004", 11))
        )
    assert free(sessions, "TEA-001", "HZ") == 500
    assert ledger(sessions, "o-1") == []


def test_a_second_round_reserves_again_after_the_first_was_released(
    sessions: SessionFactory,
) -> None:
    plan = [package(1, "HZ", ("TEA-001", 3))]
    reserve(sessions, "o-1", 1, *plan)
    with transaction(sessions) as session:
        assert StockRepository(session).release("o-1") == 3
    assert free(sessions, "TEA-001", "HZ") == 500
    reserve(sessions, "o-1", 2, *plan)
    with transaction(sessions) as session:
        assert StockRepository(session).ship_package("o-1", 1) == 3
        assert StockRepository(session).release("o-1") == 0  # nothing left to give back
    with transaction(sessions) as session:
        level = session.get(StockLevel, ("TEA-001", "HZ"))
        assert level is not None and (level.on_hand, level.reserved) == (497, 0)
    assert [(ref, kind) for ref, kind, _, _ in ledger(sessions, "o-1")] == [
        ("o-1/1/1", "reserve"),
        ("o-1/1/1", "release"),
        ("o-1/2/1", "reserve"),
        ("o-1/2/1", "ship"),
    ]


def test_releasing_some_packages_leaves_the_others_reserved_and_happens_once(
    sessions: SessionFactory,
) -> None:
    """A cancellation stopped package 2; package 3 may still be on its way to the carrier."""
    reserve(
        sessions,
        "o-7",
        1,
        package(1, "HZ", ("TEA-001", 1)),
        package(2, "SH", ("MOON-003", 2)),
        package(3, "HZ", ("CUP-002", 1)),
    )
    for _ in range(2):  # a retried activity releases nothing more
        with transaction(sessions) as session:
            StockRepository(session).release_packages("o-7", [2])
    assert free(sessions, "MOON-003", "SH") == 80
    assert (free(sessions, "TEA-001", "HZ"), free(sessions, "CUP-002", "HZ")) == (499, 119)
    assert [row for row in ledger(sessions, "o-7") if row[1] == "release"] == [
        ("o-7/1/2", "release", "MOON-003", 2)
    ]
    with transaction(sessions) as session:
        assert StockRepository(session).ship_package("o-7", 3) == 1  # still its own to ship
