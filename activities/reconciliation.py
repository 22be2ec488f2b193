"""Reconciliation runs: compare, record what differs, alert who must look."""

from __future__ import annotations

from temporalio import activity

from domain.contract import AlertKind, AlertLevel, AlertRole
from domain.reconciliation import ReconciliationRequest, RunSummary
from store.db import SessionFactory, transaction
from store.reconciliation import ReconciliationRepository, stock_differences
from store.repositories import AlertRepository


class ReconciliationActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn
    def reconcile_stock(self, request: ReconciliationRequest) -> RunSummary:
        """Stock levels against their ledger, reservations against their orders. Each
        difference alerts the warehouse once while it lasts (a re-run adds no alert);
        nothing is changed: a person decides what the truth is."""
        with transaction(self.sessions) as session:
            runs = ReconciliationRepository(session)
            run_id = request.run_id or runs.open_run(request.kind, request.by)
            found = stock_differences(session)
            done = runs.finish_run(run_id, found)
            alerts = AlertRepository(session)
            for difference in found:
                alerts.raise_once(
                    kind=AlertKind.STOCK_MISMATCH,
                    key=f"stock:{difference.kind}:{difference.subject}",
                    level=AlertLevel.YELLOW,
                    subject=difference.order_id or difference.subject,
                    message=f"{difference.detail} (reconciliation run {run_id})",
                    role=AlertRole.WAREHOUSE,
                )
        return done
