"""Reconciliation runs: start one now, list them, read what one found."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.auth import PrincipalDep
from api.deps import SessionsDep, SettingsDep, WorkflowsDep
from api.schemas import Strict
from domain.access import Principal, Role
from domain.errors import Forbidden, InvalidRequest, ReconciliationRunNotFound
from domain.reconciliation import (
    DifferenceClass,
    HealthReport,
    ReconciliationKind,
    ReconciliationRequest,
    RunSummary,
    month_bounds,
)
from domain.statements import PROVIDER_NAME
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory, transaction
from store.reconciliation import ReconciliationRepository, health_report, summary

router = APIRouter(prefix="/reconciliation", tags=["reconciliation"])


class RunIn(Strict):
    kind: ReconciliationKind = ReconciliationKind.STOCK
    # Whose statement a payments run reads: the provider the payments were made with.
    provider: Annotated[str, Field(pattern=PROVIDER_NAME)] = StripePayments.name


class DifferencePublic(BaseModel):
    id: int
    kind: DifferenceClass
    subject: str
    detail: str
    order_id: str | None
    repaired: bool = False  # a refund not synced, booked by the run itself
    first_run_id: int | None = None  # the run that found it first


class RunPage(BaseModel):
    items: list[RunSummary]
    next_cursor: str | None = None


class RunDetail(BaseModel):
    run: RunSummary
    differences: list[DifferencePublic]
    next_cursor: str | None = None


Limit = Annotated[int, Query(ge=1, le=500)]

# The routes admit finance and the warehouse; a payments run is money, for finance alone.
MAY_SEE = {
    ReconciliationKind.STOCK: {Role.FINANCE, Role.WAREHOUSE, Role.ADMIN},
    ReconciliationKind.PAYMENTS: {Role.FINANCE, Role.ADMIN},
}


def _may_see(caller: Principal, kind: ReconciliationKind) -> None:
    if caller.role not in MAY_SEE[kind]:
        raise Forbidden(f"role {caller.role.value} may not see {kind.value} reconciliation runs")


@router.post("/runs", response_model=RunSummary, status_code=status.HTTP_202_ACCEPTED)
async def run_now(
    body: RunIn,
    *,
    sessions: SessionsDep,
    workflows: WorkflowsDep,
    settings: SettingsDep,
    caller: PrincipalDep,
) -> RunSummary:
    """Reconcile now, besides the daily schedules: `stock` (levels against their ledger,
    reservations against their orders) or `payments` (the provider's statement, pulled
    first, against the orders and the finance ledger). The run's ID at once; its
    differences at `GET /reconciliation/runs/{id}` once `finished_at` is set."""
    _may_see(caller, body.kind)
    provider = body.provider if body.kind == ReconciliationKind.PAYMENTS else None
    run_id = await run_in_threadpool(_open, sessions, body.kind, caller.actor, provider)
    request = ReconciliationRequest(
        kind=body.kind,
        run_id=run_id,
        by=caller.actor,
        provider=body.provider,
        # The statement comes from Stripe's API; another provider's was loaded from a file.
        pull=body.provider == StripePayments.name,
        grace=timedelta(minutes=settings.reconciliation_grace_minutes),
    )
    await workflows.reconcile(request)
    return await run_in_threadpool(_summary, sessions, run_id)


@router.get("/runs", response_model=RunPage)
async def list_runs(
    *,
    sessions: SessionsDep,
    caller: PrincipalDep,
    cursor: str | None = None,
    limit: Limit = 50,
) -> RunPage:
    """The runs the caller may see (the warehouse: stock runs), newest first. Pass
    `next_cursor` back as `cursor`."""
    before = _cursor(cursor)
    kinds = [kind for kind, who in MAY_SEE.items() if caller.role in who]

    def page() -> RunPage:
        with transaction(sessions) as session:
            runs = ReconciliationRepository(session).runs(kinds=kinds, before=before, limit=limit)
            items = [summary(run) for run in runs]
        more = str(items[-1].run_id) if len(items) == limit else None
        return RunPage(items=items, next_cursor=more)

    return await run_in_threadpool(page)


RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="e.g. 2026-11")]


@router.get("/runs/{run_id}", response_model=RunDetail)
async def read_run(
    run_id: RunId,
    *,
    sessions: SessionsDep,
    caller: PrincipalDep,
    cursor: str | None = None,
    limit: Limit = 100,
) -> RunDetail:
    """What one run found, a page at a time (`next_cursor` back as `cursor`)."""
    after = _cursor(cursor)

    def page() -> RunDetail:
        with transaction(sessions) as session:
            runs = ReconciliationRepository(session)
            run = runs.get(run_id)
            if run is None:
                raise ReconciliationRunNotFound(f"no reconciliation run {run_id}")
            _may_see(caller, ReconciliationKind(run.kind))
            rows = runs.differences(run_id, after=after, limit=limit)
            found = [DifferencePublic.model_validate(r, from_attributes=True) for r in rows]
            head = summary(run)
        more = str(found[-1].id) if len(found) == limit else None
        return RunDetail(run=head, differences=found, next_cursor=more)

    return await run_in_threadpool(page)


@router.get("/runs/{run_id}/differences.csv", response_class=StreamingResponse)
async def download_run(run_id: RunId, *, sessions: SessionsDep, caller: PrincipalDep) -> Response:
    """Everything one run found, as CSV (one row per difference), for a spreadsheet."""

    def head() -> None:
        with transaction(sessions) as session:
            run = ReconciliationRepository(session).get(run_id)
            if run is None:
                raise ReconciliationRunNotFound(f"no reconciliation run {run_id}")
            _may_see(caller, ReconciliationKind(run.kind))

    await run_in_threadpool(head)
    return StreamingResponse(
        iterate_in_threadpool(_csv_rows(sessions, run_id)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="reconciliation-{run_id}.csv"'},
    )


CSV_COLUMNS = ("kind", "subject", "order_id", "repaired", "first_run_id", "fingerprint", "detail")


def _csv_rows(sessions: SessionFactory, run_id: int) -> Iterator[str]:
    """The header, then a page of differences at a time."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    after: int | None = None
    while True:
        with transaction(sessions) as session:
            rows = ReconciliationRepository(session).differences(run_id, after=after, limit=500)
            for row in rows:
                writer.writerow([_cell(getattr(row, column)) for column in CSV_COLUMNS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(rows) < 500:
            return
        after = rows[-1].id


def _cell(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ would run as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


@router.get("/report", response_model=HealthReport)
async def monthly_report(*, sessions: SessionsDep, month: Month) -> HealthReport:
    """A month of payments reconciliation: match rate, what is still open by class and how
    old, what repaired itself (the `reconciliation-report` schedule mails the same)."""
    try:
        starts, ends = month_bounds(month)
    except ValueError as error:
        raise InvalidRequest(str(error)) from None

    def report() -> HealthReport:
        with transaction(sessions) as session:
            return health_report(session, month, starts, ends)

    return await run_in_threadpool(report)


def _open(
    sessions: SessionFactory, kind: ReconciliationKind, actor: str, provider: str | None
) -> int:
    with transaction(sessions) as session:
        return ReconciliationRepository(session).open_run(kind, actor, provider)


def _summary(sessions: SessionFactory, run_id: int) -> RunSummary:
    with transaction(sessions) as session:
        run = ReconciliationRepository(session).get(run_id)
        assert run is not None
        return summary(run)


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise InvalidRequest("cursor is not one this API returned")
    return int(cursor)
