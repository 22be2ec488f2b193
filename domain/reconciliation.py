"""Reconciliation: what a run compares, and the differences it can find.

Stock: each stock level against the sum of its ledger movements, and every reservation
against its order (one still held by an order that has ended is a leak). Nothing is changed
automatically: each difference alerts the warehouse.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class ReconciliationKind(StrEnum):
    STOCK = "stock"


class DifferenceClass(StrEnum):
    LEVEL_MISMATCH = "level_mismatch"  # a stock level is not what its ledger adds up to
    LEAKED_RESERVATION = "leaked_reservation"  # units still held for an order that ended


class Difference(BaseModel):
    kind: DifferenceClass
    subject: str  # "TEA-001@HZ", or the order a leak belongs to
    detail: str
    order_id: str | None = None


class ReconciliationRequest(BaseModel):
    """A run's input: started by its schedule (no ``run_id``: it opens its own) or by a
    person (``run_id``: the row the API opened, and who asked)."""

    kind: ReconciliationKind = ReconciliationKind.STOCK
    run_id: int | None = None
    by: str | None = None


class RunSummary(BaseModel):
    run_id: int
    kind: ReconciliationKind
    started_at: datetime
    finished_at: datetime | None = None
    differences: int = Field(0, ge=0)
    by: str | None = None
