"""Refunds of running orders: support and finance give money back, and read the ledger."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.deps import SessionsDep, SettingsDep, WorkflowsDep
from api.routes.orders import load_order
from api.schemas import RefundEntry, RefundIn, RefundPublic
from api.views import order_public
from domain.access import Role
from domain.refunds import RefundKind, RefundLine, RefundOrder, RefundStatus
from domain.safe_text import SafeText
from store.db import SessionFactory, transaction
from store.repositories import PaymentRepository

router = APIRouter(prefix="/orders", tags=["refunds"])

RefundKey = Annotated[
    SafeText,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Required: a retried refund with the same key answers the first answer "
        "and never pays twice (another refund under a used key: 409).",
    ),
]

PARKED = {
    "model": RefundPublic,
    "description": "Parked for finance: the provider refused it or "
    "did not answer. Asking again with the same Idempotency-Key tries again.",
}


@router.post(
    "/{order_id}/refunds",
    response_model=RefundPublic,
    status_code=status.HTTP_201_CREATED,
    responses={202: PARKED},
)
async def refund_order(
    order_id: str,
    body: RefundIn,
    response: Response,
    *,
    idempotency_key: RefundKey,
    sessions: SessionsDep,
    workflows: WorkflowsDep,
    settings: SettingsDep,
    caller: PrincipalDep,
) -> RefundPublic:
    """Give money back on a delivered order, or one on hold whose parcels came back: by
    `lines` (units delivered or returned, at their price), by `amount`, or everything not yet
    refunded; a `goodwill` amount also after the refund window (the channel's
    `refund_window` in the rules file).

    The order ends `partially_refunded`, then `completed`; or `refunded` once everything paid
    came back. Support refunds up to `ORDERFLOW_SUPPORT_REFUND_LIMIT` at once (403 above:
    finance does it). The same `Idempotency-Key` answers the first answer and never pays
    twice (another refund under a used key: 409 `idempotency_conflict`); a refund the
    provider refused or never answered is parked for finance (202)."""
    order = await run_in_threadpool(load_order, sessions, order_id, caller)
    ask = RefundOrder(
        request_id=_request_id(idempotency_key),
        reason=body.reason,
        by=caller.actor,
        kind=RefundKind.GOODWILL if body.goodwill else RefundKind.REFUND,
        amount=body.amount,
        lines=[RefundLine(sku=line.sku, quantity=line.quantity) for line in body.lines],
        currency=body.currency,
        limit=settings.support_refund_limit if caller.role is Role.SUPPORT else None,
    )
    outcome = await workflows.refund(order_id, ask)
    if outcome.status is RefundStatus.PARKED:
        response.status_code = status.HTTP_202_ACCEPTED
    live = await workflows.snapshot(order_id)
    return RefundPublic(**outcome.model_dump(), order=order_public(order, live=live))


@router.get("/{order_id}/refunds", response_model=list[RefundEntry])
async def list_refunds(
    order_id: str, *, sessions: SessionsDep, caller: PrincipalDep
) -> list[RefundEntry]:
    """The order's refunds ledger, oldest first: made and parked, each with who asked and
    the trace ID it shares with the payment."""
    await run_in_threadpool(load_order, sessions, order_id, caller)
    return await run_in_threadpool(_ledger, sessions, order_id)


def _request_id(idempotency_key: str) -> str:
    """The refund's name in the order and at the provider: from the caller's key, so a
    retry is the same refund; any text is welcome in the key, hence the digest."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def _ledger(sessions: SessionFactory, order_id: str) -> list[RefundEntry]:
    with transaction(sessions) as session:
        return [
            RefundEntry.model_validate(row, from_attributes=True)
            for row in PaymentRepository(session).refunds(order_id)
        ]
