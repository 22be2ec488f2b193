"""Overselling under real concurrency: many orders race for a few units on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from domain.errors import StockMoved
from store.db import SessionFactory, transaction
from store.models import Product
from store.repositories import CatalogRepository, StockRepository
from tests.store.packages import package

pytestmark = pytest.mark.postgres

UNITS = 50
ORDERS = 200


@pytest.fixture
def scarce_sku(sessions: SessionFactory) -> str:
    with transaction(sessions) as session:
        CatalogRepository(session).upsert_product(
            Product(sku="RARE-1", name="Limited edition tin", price=9900, currency="usd",
                    weight_grams=400, cold_chain=False, fragile=False)
        )  # fmt: skip
        session.flush()
        StockRepository(session).receive("restock-1", "RARE-1", "HZ", UNITS)
    return "RARE-1"


def test_concurrent_reservations_never_oversell(
    engine: Engine, sessions: SessionFactory, scarce_sku: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row-level concurrency is tested on PostgreSQL (ORDERFLOW_TEST_DATABASE_URL)")

    def reserve(n: int) -> bool:
        try:
            with transaction(sessions) as session:
                StockRepository(session).reserve_packages(
                    f"race-{n}", 1, [package(1, "HZ", (scarce_sku, 1))]
                )
        except StockMoved:
            return False
        return True

    with ThreadPoolExecutor(max_workers=40) as pool:
        outcomes = list(pool.map(reserve, range(ORDERS)))

    assert outcomes.count(True) == UNITS
    with transaction(sessions) as session:
        stock = StockRepository(session)
        level = stock.level(scarce_sku, "HZ")
        assert level is not None
        assert (level.on_hand, level.reserved) == (UNITS, UNITS)
        totals = stock.ledger_totals()[(scarce_sku, "HZ")]
        assert totals == {"receipt": UNITS, "reserve": UNITS}
