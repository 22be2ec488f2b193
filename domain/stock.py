"""Low stock: when a SKU in a warehouse needs the warehouse team's attention."""

from __future__ import annotations

from dataclasses import dataclass

from domain.contract import AlertKind, AlertLevel


@dataclass(frozen=True)
class LowStock:
    """The alert a place (SKU, warehouse) running out should have open."""

    key: str
    level: AlertLevel
    subject: str
    message: str


def low_stock_key(sku: str, warehouse: str) -> str:
    """One open alert per place: raising again finds it, stock coming back resolves it."""
    return f"{AlertKind.LOW_STOCK}:{sku}:{warehouse}"


def low_stock(
    sku: str, warehouse: str, *, available: int, threshold: int | None, default_threshold: int
) -> LowStock | None:
    """At or under its threshold (its own, else the rules' default) a place is low: yellow
    while units are left, red at none. None: the place is fine and any alert resolves."""
    limit = default_threshold if threshold is None else threshold
    if available > limit:
        return None
    return LowStock(
        key=low_stock_key(sku, warehouse),
        level=AlertLevel.YELLOW if available else AlertLevel.RED,
        subject=f"{sku} at {warehouse}",
        message=f"{available} left to sell of {sku} at {warehouse}",
    )
