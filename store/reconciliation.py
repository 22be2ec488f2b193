"""Reconciliation runs in the database, and the stock comparison itself (in SQL: the
database adds the ledger up, the code only compares)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, aliased

from domain.contract import MovementKind
from domain.order import FINAL_STATUSES
from domain.reconciliation import (
    ClassHealth,
    Difference,
    DifferenceClass,
    HealthReport,
    ReconciliationKind,
    RunSummary,
)
from store.inserts import insert_once
from store.models import (
    Order,
    ReconciliationDifference,
    ReconciliationRun,
    StockLevel,
    StockMovement,
    ledger_balance,
    utcnow,
)
from store.repositories import StockRepository


class ReconciliationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def open_run(
        self, kind: ReconciliationKind, actor: str | None, provider: str | None = None
    ) -> int:
        run = ReconciliationRun(
            kind=kind.value, started_at=utcnow(), differences=0, actor=actor, provider=provider
        )
        self.session.add(run)
        self.session.flush()
        return run.id

    def record(self, run_id: int, difference: Difference, *, repaired: bool = False) -> bool:
        """One difference of the run, once (a retried run writes none twice). True when no
        earlier run found it."""
        first = self.session.scalar(
            select(func.min(ReconciliationDifference.run_id)).where(
                ReconciliationDifference.kind == difference.kind.value,
                ReconciliationDifference.subject == difference.subject,
            )
        )
        insert_once(
            self.session,
            ReconciliationDifference,
            {
                "run_id": run_id,
                "kind": difference.kind.value,
                "subject": difference.subject,
                "detail": difference.detail,
                "order_id": difference.order_id,
                "fingerprint": difference.fingerprint,
                "first_run_id": first or run_id,
                "repaired": repaired,
            },
        )
        return first is None or first == run_id

    def finish_run(self, run_id: int, found: list[Difference]) -> RunSummary:
        """Record every difference and end the run."""
        for difference in found:
            self.record(run_id, difference)
        return self.close_run(run_id)

    def close_run(self, run_id: int, *, compared: int = 0) -> RunSummary:
        """End the run, its counts from the differences it stored (a retried run's too)."""
        of_run = ReconciliationDifference.run_id == run_id
        differences, new, repaired = self.session.execute(
            select(
                func.count(),
                func.count().filter(ReconciliationDifference.first_run_id == run_id),
                func.count().filter(ReconciliationDifference.repaired.is_(True)),
            ).where(of_run)
        ).one()
        self.session.execute(
            update(ReconciliationRun)
            .where(ReconciliationRun.id == run_id)
            .values(
                finished_at=utcnow(),
                differences=differences,
                new_differences=new,
                repaired=repaired,
                compared=compared,
            )
        )
        run = self.get(run_id)
        assert run is not None
        self.session.refresh(run)
        return summary(run)

    def summary_of(self, run_id: int) -> RunSummary:
        run = self.get(run_id)
        assert run is not None
        return summary(run)

    def get(self, run_id: int) -> ReconciliationRun | None:
        return self.session.get(ReconciliationRun, run_id)

    def runs(
        self, *, kinds: Collection[ReconciliationKind], before: int | None, limit: int
    ) -> list[ReconciliationRun]:
        query = (
            select(ReconciliationRun)
            .where(ReconciliationRun.kind.in_([kind.value for kind in kinds]))
            .order_by(ReconciliationRun.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(ReconciliationRun.id < before)
        return list(self.session.scalars(query))

    def differences(
        self, run_id: int, *, after: int | None, limit: int | None
    ) -> list[ReconciliationDifference]:
        query = (
            select(ReconciliationDifference)
            .where(ReconciliationDifference.run_id == run_id)
            .order_by(ReconciliationDifference.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(ReconciliationDifference.id > after)
        return list(self.session.scalars(query))


def summary(run: ReconciliationRun) -> RunSummary:
    return RunSummary(
        run_id=run.id,
        kind=ReconciliationKind(run.kind),
        started_at=run.started_at,
        finished_at=run.finished_at,
        differences=run.differences,
        new_differences=run.new_differences,
        repaired=run.repaired,
        compared=run.compared,
        by=run.actor,
    )


def stock_differences(session: Session) -> list[Difference]:
    """Every stock level that is not what its ledger adds up to, and every reservation still
    held for an order that has ended."""
    return _level_mismatches(session) + _leaked_reservations(session)


def _level_mismatches(session: Session) -> list[Difference]:
    totals = StockRepository(session).ledger_totals()
    levels = {(s.sku, s.warehouse): s for s in session.scalars(select(StockLevel))}
    found = []
    for place in sorted(set(totals) | set(levels)):
        expected = ledger_balance(totals.get(place, {}))
        level = levels.get(place)
        have = (level.on_hand, level.reserved) if level else (0, 0)
        if have != (expected.on_hand, expected.reserved):
            sku, warehouse = place
            found.append(
                Difference(
                    kind=DifferenceClass.LEVEL_MISMATCH,
                    subject=f"{sku}@{warehouse}",
                    detail=(
                        f"{sku} at {warehouse}: on hand {have[0]}, reserved {have[1]}; its "
                        f"ledger says {expected.on_hand} and {expected.reserved}"
                    ),
                )
            )
    return found


def _leaked_reservations(session: Session) -> list[Difference]:
    held = func.sum(
        case(
            (StockMovement.kind == MovementKind.RESERVE.value, StockMovement.quantity),
            (
                StockMovement.kind.in_([MovementKind.RELEASE.value, MovementKind.SHIP.value]),
                -StockMovement.quantity,
            ),
            else_=0,
        )
    )
    rows = session.execute(
        select(StockMovement.order_id, StockMovement.sku, StockMovement.warehouse, held)
        .join(Order, Order.id == StockMovement.order_id)
        .where(Order.status.in_([status.value for status in FINAL_STATUSES]))
        .group_by(StockMovement.order_id, StockMovement.sku, StockMovement.warehouse)
        .having(held > 0)
        .order_by(StockMovement.order_id, StockMovement.sku, StockMovement.warehouse)
    )
    return [
        Difference(
            kind=DifferenceClass.LEAKED_RESERVATION,
            subject=f"{order_id}:{sku}@{warehouse}",
            detail=f"{units} × {sku} at {warehouse} still reserved for {order_id}, which ended",
            order_id=order_id,
        )
        for order_id, sku, warehouse, units in rows
    ]


def health_report(session: Session, month: str, starts: datetime, ends: datetime) -> HealthReport:
    """The payments runs started in [starts, ends): their totals, and what the last of them
    still found open, by class, aged from the run that first found each."""
    runs = list(
        session.scalars(
            select(ReconciliationRun)
            .where(
                ReconciliationRun.kind == ReconciliationKind.PAYMENTS.value,
                ReconciliationRun.started_at >= starts,
                ReconciliationRun.started_at < ends,
                ReconciliationRun.finished_at.is_not(None),
            )
            .order_by(ReconciliationRun.id)
        )
    )
    compared = sum(run.compared for run in runs)
    differences = sum(run.differences for run in runs)
    by_class: list[ClassHealth] = []
    if runs:
        last = runs[-1]
        first_found = aliased(ReconciliationRun)
        rows = session.execute(
            select(ReconciliationDifference.kind, first_found.started_at)
            .join(first_found, first_found.id == ReconciliationDifference.first_run_id)
            .where(
                ReconciliationDifference.run_id == last.id,
                ReconciliationDifference.repaired.is_(False),
            )
        ).all()
        ages: dict[str, list[float]] = {}
        for kind, found_at in rows:
            ages.setdefault(kind, []).append((last.started_at - found_at) / timedelta(days=1))
        by_class = [
            ClassHealth(
                kind=DifferenceClass(kind),
                open=len(days),
                oldest_days=round(max(days), 1),
                mean_age_days=round(sum(days) / len(days), 1),
            )
            for kind, days in sorted(ages.items())
        ]
    return HealthReport(
        month=month,
        runs=len(runs),
        compared=compared,
        differences=differences,
        match_rate=round(1 - differences / compared, 6) if compared else 1.0,
        repaired=sum(run.repaired for run in runs),
        by_class=by_class,
    )
