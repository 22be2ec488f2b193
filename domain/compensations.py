"""Batch compensation (price protection): every order paid in a time range for a SKU gets
a fixed amount back per unit, after a price drop, say. One workflow per batch; the batch's
ID comes from what it gives, so starting the same batch twice finds the first."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, Field, model_validator


class CompensationBatch(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    paid_from: datetime
    paid_until: datetime
    per_unit: int = Field(gt=0, le=10**9)  # minor units back for each unit of the SKU
    reason: str = Field(min_length=1, max_length=500)
    by: str | None = None

    @model_validator(mode="after")
    def _a_range(self) -> CompensationBatch:
        if self.paid_until <= self.paid_from:
            raise ValueError("paid_until must be after paid_from")
        return self

    def for_order(self) -> OrderCompensation:
        return OrderCompensation(
            batch_id=self.batch_id,
            sku=self.sku,
            per_unit=self.per_unit,
            reason=self.reason,
            by=self.by,
        )

    @property
    def batch_id(self) -> str:
        """The same SKU, range and amount is the same batch, whoever starts it and however
        often: its refunds' purpose, so each order is refunded once."""
        key = (
            f"{self.sku}|{self.paid_from.isoformat()}|{self.paid_until.isoformat()}|{self.per_unit}"
        )
        return f"comp-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


class CompensationPage(BaseModel):
    batch: CompensationBatch
    after: str | None = None  # the last order ID of the page before
    limit: int = 50


class OrderPage(BaseModel):
    order_ids: list[str]


class CompensateOrder(BaseModel):
    batch: CompensationBatch
    order_id: str
    # Refund here even if the order looks open: its workflow ended before it could be told.
    directly: bool = False


class OrderCompensated(BaseModel):
    """What became of one order: refunded here (``amount``; 0 when nothing was left to give
    back), or ``running``: its own workflow refunds it, to keep its count of what is left."""

    order_id: str
    amount: int = 0
    running: bool = False


class OrderCompensation(BaseModel):
    """What a running order is told to give back (the ``compensate`` signal)."""

    batch_id: str
    sku: str
    per_unit: int
    reason: str
    by: str | None = None

    @property
    def purpose(self) -> str:
        return f"compensation-{self.batch_id}"


class CompensationProgress(BaseModel):
    batch_id: str
    orders: int = 0  # looked at so far
    refunded: int = 0  # closed orders given money back by the batch
    told: int = 0  # running orders asked to give it back themselves
    skipped: int = 0  # closed orders with nothing left to give back
    amount: int = 0  # minor units the batch gave back to closed orders
    cursor: str | None = None
    done: bool = False


class CompensationRun(BaseModel):
    """The workflow's input: the batch, and how far an earlier run got (continued as new)."""

    batch: CompensationBatch
    progress: CompensationProgress | None = None
