"""Reconciliation runs: compare, record what differs, repair what is safe to, and alert who
must look at the rest."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session
from temporalio import activity

from domain.contract import AlertKind, AlertLevel, AlertRole
from domain.order import OrderStatus, is_final
from domain.reconciliation import (
    Difference,
    DifferenceClass,
    Found,
    FoundRefund,
    PaymentsReconciled,
    ReconciliationRequest,
    RunSummary,
    Seen,
    classify,
)
from store.audit_log import AuditLogRepository
from store.db import SessionFactory, transaction
from store.matching import (
    provider_movements,
    statement_window,
    trace_late_lines,
    unmatched_movements,
)
from store.models import AuditEntry, utcnow
from store.reconciliation import ReconciliationRepository, stock_differences
from store.repositories import AlertRepository, OrderRepository, PaymentRepository

RECONCILIATION_ACTOR = "system:reconciliation"
# Differences are written a batch at a time, apart from the match's reading transaction.
WRITE_EVERY = 500
# Refunds one run repairs at most: the orders still running hear of them in its history.
MAX_REPAIRS = 500


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

    @activity.defn
    def open_reconciliation_run(self, request: ReconciliationRequest) -> RunSummary:
        """A scheduled run's row, opened once (the workflow keeps its ID): the match may be
        retried without opening another."""
        with transaction(self.sessions) as session:
            runs = ReconciliationRepository(session)
            return runs.summary_of(runs.open_run(request.kind, request.by, request.provider))

    @activity.defn
    def reconcile_payments(self, request: ReconciliationRequest) -> PaymentsReconciled:
        """The provider's statement, our payments and refunds, and the finance ledger, three
        ways. A refund made at the provider's dashboard is repaired (refunds ledger, finance
        ledger, the order's timeline; audited); every other difference alerts finance, once
        while it lasts. A retried run records nothing twice and repairs nothing twice."""
        assert request.run_id is not None, "a payments run is opened first"
        run_id = request.run_id
        with transaction(self.sessions) as session:
            trace_late_lines(session, request.provider)
            compared = provider_movements(session, request.provider)
        counts = {"differences": 0, "new": 0, "repaired": 0, "ours_only": 0}
        running: list[FoundRefund] = []
        batch: list[Found] = []
        for found in self._differences(request):
            batch.append(found)
            if len(batch) >= WRITE_EVERY:
                running += self._write(run_id, batch, counts)
                batch = []
            activity.heartbeat(counts["differences"])
        running += self._write(run_id, batch, counts)
        with transaction(self.sessions) as session:
            done = ReconciliationRepository(session).close_run(
                run_id,
                differences=counts["differences"],
                new=counts["new"],
                repaired=counts["repaired"],
                compared=compared + counts["ours_only"],
            )
        return PaymentsReconciled(summary=done, running=running)

    @activity.defn
    def note_found_refund(self, found: FoundRefund) -> None:
        """A repaired refund's line on the timeline of an order whose workflow has closed
        (one still running notes it itself); once."""
        with transaction(self.sessions) as session:
            _note_on_closed_order(session, found)

    def _differences(self, request: ReconciliationRequest) -> Iterator[Found]:
        with transaction(self.sessions) as session:
            window = statement_window(session, request.provider, grace=request.grace, now=utcnow())
            if window is None:
                return
            for views in unmatched_movements(session, request.provider):
                if not window.holds(views):
                    continue  # too young (or too old) to judge: the next run will
                if (found := classify(views)) is not None:
                    yield found

    def _write(self, run_id: int, batch: list[Found], counts: dict[str, int]) -> list[FoundRefund]:
        running: list[FoundRefund] = []
        with transaction(self.sessions) as session:
            runs = ReconciliationRepository(session)
            for found in batch:
                difference, repaired = found.difference, None
                if found.repair is not None and counts["repaired"] < MAX_REPAIRS:
                    repaired = _repair(session, run_id, found.repair)
                counts["differences"] += 1
                counts["ours_only"] += difference.kind == DifferenceClass.MISSING_AT_PROVIDER
                counts["new"] += runs.record(run_id, difference, repaired=repaired is not None)
                if repaired is None:
                    _alert(session, run_id, difference)
                    continue
                counts["repaired"] += 1
                order = OrderRepository(session).get(repaired.order_id)
                if order is not None and not is_final(OrderStatus(order.status)):
                    running.append(repaired)
                else:
                    _note_on_closed_order(session, repaired)
        return running


def _repair(session: Session, run_id: int, seen: Seen) -> FoundRefund | None:
    """A refund the provider made that no order knew: into the refunds ledger (which books
    the finance ledger) under a purpose of its own, audited as the reconciliation's doing.
    None when its payment is not ours after all."""
    payments = PaymentRepository(session)
    payment = payments.for_order(seen.order_id) if seen.order_id else None
    if payment is None or payment.trace_id != seen.trace_id:
        return None
    found = FoundRefund(
        order_id=payment.order_id,
        refund_id=seen.ref,
        amount=seen.amount,
        currency=seen.currency,
        run_id=run_id,
    )
    if any(r.provider_refund_id == seen.ref for r in payments.refunds(payment.order_id)):
        return found  # repaired by an earlier try of this run
    payments.record_refund(
        order_id=payment.order_id,
        provider_refund_id=seen.ref,
        provider_payment_id=payment.provider_payment_id,
        amount=seen.amount,
        reason="refunded at the provider, outside orderflow",
        purpose=f"provider-{seen.ref}",
        currency=seen.currency,
        actor=RECONCILIATION_ACTOR,
    )
    AuditLogRepository(session).append(
        AuditEntry(
            at=utcnow(),
            actor=RECONCILIATION_ACTOR,
            role=None,
            action=f"repair {DifferenceClass.REFUND_NOT_SYNCED}",
            path=f"/reconciliation/runs/{run_id}",
            order_id=payment.order_id,
            client_ip=None,
            outcome=200,
            request_id=f"reconciliation-{run_id}-{seen.ref}",
        )
    )
    return found


def _alert(session: Session, run_id: int, difference: Difference) -> None:
    """Finance hears of each difference once while it lasts, with where to look."""
    links = f"/reconciliation/runs/{run_id}"
    if difference.order_id:
        links += f", /orders/{difference.order_id}"
    AlertRepository(session).raise_once(
        kind=AlertKind.PAYMENT_MISMATCH,
        key=f"payments:{difference.kind}:{difference.subject}",
        level=AlertLevel.RED,
        subject=difference.order_id or difference.subject,
        message=f"{difference.kind}: {difference.detail} (see {links})",
        role=AlertRole.FINANCE,
    )


def _note_on_closed_order(session: Session, found: FoundRefund) -> None:
    OrderRepository(session).note_once(found.order_id, found.note)
