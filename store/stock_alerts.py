"""Low-stock alerts follow the levels: opened where a place runs low, closed where stock came
back. Called wherever a level moves (reservations, releases, returns, receipts)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from domain.contract import AlertKind, AlertRole
from domain.stock import low_stock, low_stock_key
from store.repositories import AlertRepository, StockRepository


def review_low_stock(session: Session, places: Sequence[tuple[str, str]], threshold: int) -> int:
    """Raise a low-stock alert for each place the rule finds low, resolve the others;
    returns how many alerts this call opened. ``threshold``: where a level sets none."""
    alerts = AlertRepository(session)
    opened = 0
    for level in StockRepository(session).levels(places):
        alert = low_stock(
            level.sku,
            level.warehouse,
            available=level.on_hand - level.reserved,
            threshold=level.low_stock_threshold,
            default_threshold=threshold,
        )
        if alert is None:
            alerts.resolve(low_stock_key(level.sku, level.warehouse))
            continue
        opened += alerts.raise_once(
            kind=AlertKind.LOW_STOCK,
            key=alert.key,
            level=alert.level,
            subject=alert.subject,
            message=alert.message,
            role=AlertRole.WAREHOUSE,
        )
    return opened
