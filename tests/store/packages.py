"""Packages as the split planner would hand them to the stock repository."""

from __future__ import annotations

from domain.splitting import Package, PackageLine
from store.db import SessionFactory, transaction
from store.repositories import StockRepository


def package(number: int, warehouse: str, *lines: tuple[str, int]) -> Package:
    return Package(
        number=number,
        warehouse=warehouse,
        lines=[PackageLine(sku=sku, quantity=q) for sku, q in lines],
        reasons=["test"],
        weight_grams=0,
        value=0,
    )


def reserve(sessions: SessionFactory, order_id: str, round_: int, *packages: Package) -> int:
    """Reserve one round in its own transaction; returns the units it took."""
    with transaction(sessions) as session:
        allocations = StockRepository(session).reserve_packages(order_id, round_, packages)
    return sum(a.quantity for a in allocations)
