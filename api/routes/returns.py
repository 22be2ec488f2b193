"""Returns: the customer (or support) opens an RMA; the warehouse scans and inspects the
parcel that comes back."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.deps import RulesDep, SessionsDep, WorkflowsDep
from api.errors import ServiceUnavailable
from api.returns import open_rma
from api.routes.orders import load_order
from api.schemas import PaymentPublic, RefundLineIn, Strict
from domain.errors import ReturnNotFound
from domain.refunds import RefundLine
from domain.returns import Inspection, ReturnScan, ReturnStatus, ReturnView, Verdict
from domain.safe_text import SafeText
from store.db import SessionFactory, transaction
from store.returns import ReturnRepository

RMA_PATTERN = r"^RMA-[A-Za-z0-9_.-]{1,100}$"

router = APIRouter(tags=["returns"])


class ReturnIn(Strict):
    lines: list[RefundLineIn] = Field(min_length=1, max_length=100)
    reason: SafeText = Field(min_length=1, max_length=500)
    exchange: list[RefundLineIn] = Field(
        [],
        max_length=100,
        description="An exchange: what to send instead once the return passes (the same "
        "SKU or another; reserved now; a dearer one is paid first, a cheaper one refunds "
        "the difference)",
    )


class ReturnScanIn(Strict):
    rma: str = Field(pattern=RMA_PATTERN, max_length=110)
    sku: SafeText = Field(min_length=1, max_length=64)
    quantity: int = Field(1, gt=0, le=10_000)


class InspectionIn(Strict):
    verdict: Verdict
    note: SafeText = Field("", max_length=500)


class ReturnOpened(ReturnView):
    payment: PaymentPublic | None = Field(
        None, description="An exchange for something dearer: what the customer pays first"
    )


class ReturnRowPublic(BaseModel):
    rma: str
    status: ReturnStatus
    lines: list[RefundLine]
    amount: int
    currency: str
    reason: str
    carrier: str | None
    tracking_number: str | None
    note: str | None
    expires_at: datetime
    created_at: datetime
    received_at: datetime | None
    closed_at: datetime | None


@router.post(
    "/orders/{order_id}/returns", response_model=ReturnOpened, status_code=status.HTTP_201_CREATED
)
async def open_return(
    order_id: str,
    body: ReturnIn,
    *,
    sessions: SessionsDep,
    workflows: WorkflowsDep,
    rules: RulesDep,
    caller: PrincipalDep,
) -> ReturnOpened:
    """Send delivered units back: an RMA number and a return label from the carrier. The
    parcel must reach the warehouse within the channel's `return_parcel_wait` (the RMA
    expires and the customer is told); what passes the warehouse's inspection is refunded
    and restocked. Units not delivered, already on their way back or refunded, or a request
    after the channel's `refund_window`: `409`.

    With `exchange`, what passes is replaced instead of refunded: the replacement's stock is
    reserved now (`409` when no warehouse holds it), a dearer one is paid for first (the
    answer's `payment`, completed like an order's), a cheaper one refunds the difference."""
    order = await run_in_threadpool(load_order, sessions, order_id, caller)
    lines = [RefundLine(sku=line.sku, quantity=line.quantity) for line in body.lines]
    rma = await run_in_threadpool(
        open_rma,
        sessions,
        order,
        lines,
        reason=body.reason,
        by=caller.actor,
        rules=rules,
        now=datetime.now(UTC),
        exchange=[RefundLine(sku=line.sku, quantity=line.quantity) for line in body.exchange],
    )
    try:
        view = await workflows.open_return(rma)
    except ServiceUnavailable:
        await run_in_threadpool(_abandon, sessions, rma.rma)  # never started: ask again later
        raise
    opened = ReturnOpened.model_validate(view.model_dump() | {"payment": None})
    if view.payment is not None:
        secret = await run_in_threadpool(_client_secret, sessions, rma.rma)
        opened.payment = PaymentPublic(**view.payment.model_dump(), client_secret=secret)
    return opened


@router.get("/orders/{order_id}/returns", response_model=list[ReturnRowPublic])
async def list_returns(
    order_id: str, *, sessions: SessionsDep, caller: PrincipalDep
) -> list[ReturnRowPublic]:
    """The order's RMAs, each with its label and the time of each step."""
    await run_in_threadpool(load_order, sessions, order_id, caller)
    return await run_in_threadpool(_rows, sessions, order_id)


@router.post("/warehouse/returns/scans", response_model=ReturnView)
async def scan_return(
    body: ReturnScanIn, *, workflows: WorkflowsDep, caller: PrincipalDep
) -> ReturnView:
    """A returned unit scanned at the warehouse. A SKU not in the RMA, or one unit too many,
    is refused (`409 scan_refused`, saying what the RMA holds). Once every unit is scanned
    the return waits for its inspection."""
    scan = ReturnScan(sku=body.sku, quantity=body.quantity, by=caller.actor)
    return await workflows.return_scan(body.rma, scan)


@router.post("/warehouse/returns/{rma}/inspection", response_model=ReturnView)
async def inspect_return(
    rma: str, body: InspectionIn, *, workflows: WorkflowsDep, caller: PrincipalDep
) -> ReturnView:
    """The quality check, once every unit is scanned: `pass` restocks the units and refunds
    their lines; `fail` sets them aside in quarantine (not for sale, not refunded) and tells
    support with an alert."""
    if not re.fullmatch(RMA_PATTERN, rma):
        raise ReturnNotFound(f"no open return {rma}")
    inspection = Inspection(verdict=body.verdict, note=body.note, by=caller.actor)
    return await workflows.inspect_return(rma, inspection)


def _client_secret(sessions: SessionFactory, rma: str) -> str | None:
    with transaction(sessions) as session:
        row = ReturnRepository(session).get(rma)
        return row.client_secret if row else None


def _abandon(sessions: SessionFactory, rma: str) -> None:
    with transaction(sessions) as session:
        ReturnRepository(session).abandon(rma)


def _rows(sessions: SessionFactory, order_id: str) -> list[ReturnRowPublic]:
    with transaction(sessions) as session:
        return [
            ReturnRowPublic.model_validate(row, from_attributes=True)
            for row in ReturnRepository(session).for_order(order_id)
        ]
