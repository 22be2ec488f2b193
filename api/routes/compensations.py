"""Batch compensation: finance gives every order of a SKU paid in a time range money back."""

from __future__ import annotations

import re

from fastapi import APIRouter, status
from pydantic import AwareDatetime, Field, model_validator

from api.auth import PrincipalDep
from api.deps import WorkflowsDep
from api.schemas import Strict
from domain.compensations import CompensationBatch, CompensationProgress
from domain.errors import CompensationNotFound
from domain.safe_text import SafeText

BATCH_ID = re.compile(r"comp-[0-9a-f]{16}")

router = APIRouter(prefix="/compensations", tags=["refunds"])


class CompensationIn(Strict):
    sku: SafeText = Field(min_length=1, max_length=64)
    paid_from: AwareDatetime
    paid_until: AwareDatetime
    per_unit: int = Field(gt=0, le=10**9, description="Minor units back per unit of the SKU")
    reason: SafeText = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _a_range(self) -> CompensationIn:
        if self.paid_until <= self.paid_from:
            raise ValueError("paid_until must be after paid_from")
        return self


@router.post("", response_model=CompensationProgress, status_code=status.HTTP_202_ACCEPTED)
async def start_compensation(
    body: CompensationIn, *, workflows: WorkflowsDep, caller: PrincipalDep
) -> CompensationProgress:
    """Give `per_unit` back for each unit of `sku` in every order paid in
    `[paid_from, paid_until)`, never more than an order has left, once per order: the same
    batch started again is the same batch (its `batch_id` comes from the SKU, the range and
    the amount). Runs as one workflow; poll `GET /compensations/{batch_id}` for progress."""
    batch = CompensationBatch(**body.model_dump(), by=caller.actor)
    return await workflows.compensate(batch)


@router.get("/{batch_id}", response_model=CompensationProgress)
async def compensation_progress(batch_id: str, *, workflows: WorkflowsDep) -> CompensationProgress:
    """How far the batch got: orders looked at, refunded, told (running orders refund
    themselves), skipped, and the amount; `done` once every order was seen."""
    if not BATCH_ID.fullmatch(batch_id):
        raise CompensationNotFound(f"no compensation batch {batch_id}")
    return await workflows.compensation(batch_id)
