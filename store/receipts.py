"""Goods received at a warehouse: once per delivery note, the level and its alerts follow."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from domain.contract import MovementKind
from domain.errors import IdempotencyConflict, UnknownSku, UnknownWarehouse
from store.repositories import CatalogRepository, StockRepository
from store.stock_alerts import review_low_stock


@dataclass(frozen=True)
class Received:
    on_hand: int
    available: int
    replayed: bool  # this delivery note was booked before: nothing changed now


def receive_goods(
    session: Session,
    *,
    reference: str,
    sku: str,
    warehouse: str,
    quantity: int,
    low_stock_threshold: int,
) -> Received:
    """Book ``quantity`` of ``sku`` into ``warehouse`` under the delivery note ``reference``.

    The same note again with the same goods is a retry and changes nothing; with other goods
    it is a mistake (IdempotencyConflict). A low-stock alert the goods end is closed."""
    catalog = CatalogRepository(session)
    if not catalog.products([sku]):
        raise UnknownSku(f"unknown SKU: {sku}")
    if catalog.warehouse(warehouse) is None:
        raise UnknownWarehouse(f"unknown warehouse: {warehouse}")
    stock = StockRepository(session)
    ledger_reference = f"receipt/{reference}"
    booked = stock.receive(ledger_reference, sku, warehouse, quantity)
    if not booked:
        (earlier,) = [
            m
            for m in stock.movements(ledger_reference, MovementKind.RECEIPT)
            if (m.sku, m.warehouse) == (sku, warehouse)
        ]
        if earlier.quantity != quantity:
            raise IdempotencyConflict(
                f"delivery note {reference} booked {earlier.quantity} of {sku} at {warehouse} "
                f"already, not {quantity}"
            )
    review_low_stock(session, [(sku, warehouse)], low_stock_threshold)
    level = stock.level(sku, warehouse)
    assert level is not None  # receiving creates it
    return Received(
        on_hand=level.on_hand, available=level.on_hand - level.reserved, replayed=not booked
    )
