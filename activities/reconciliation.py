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
from domain.refunds import RefundStatus
from store.audit_log import AuditLogRepository
from store.db import SessionFactory, transaction
from store.matching import (
    provider_movements,
    statement_window,
    trace_late_lines,
    unmatched_movements,
)
from store.models import AuditEntry, ReconciliationDifference, utcnow
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
        while it lasts, and its alert closes when a run no longer finds it. A retried run
        records nothing twice and repairs nothing twice, and answers from what the run
        stored, so the orders an earlier try repaired are still told."""
        assert request.run_id is not None, "a payments run is opened first"
        run_id = request.run_id
        with transaction(self.sessions) as session:
            trace_late_lines(session, request.provider)
            compared = provider_movements(session, request.provider)
        repairs, batch = 0, list[Found]()
        for difference in self._differences(request):
            batch.append(difference)
            if len(batch) >= WRITE_EVERY:
                repairs = self._write(run_id, batch, repairs)
                batch = []
                activity.heartbeat(run_id)
        self._write(run_id, batch, repairs)
        with transaction(self.sessions) as session:
            runs = ReconciliationRepository(session)
            stored = runs.differences(run_id, after=None, limit=None)
            ours_only = sum(d.kind == DifferenceClass.MISSING_AT_PROVIDER for d in stored)
            done = runs.close_run(run_id, compared=compared + ours_only)
            AlertRepository(session).resolve_missing(
                AlertKind.PAYMENT_MISMATCH,
                still_open={_alert_key(d.kind, d.subject) for d in stored if not d.repaired},
                prefix="payments:",
            )
            running = _still_running(session, run_id, [d for d in stored if d.repaired])
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

    def _write(self, run_id: int, batch: list[Found], repairs: int) -> int:
        """A batch of differences, with their repairs (up to ``MAX_REPAIRS`` a run) and
        alerts, in one transaction; returns the repairs made so far."""
        with transaction(self.sessions) as session:
            runs = ReconciliationRepository(session)
            for found in batch:
                difference, repaired = found.difference, False
                if found.repair is not None and repairs < MAX_REPAIRS:
                    repaired = _repair(session, run_id, found.repair)
                    repairs += repaired
                runs.record(run_id, difference, repaired=repaired)
                if not repaired:
                    _alert(session, run_id, difference)
        return repairs


def _repair(session: Session, run_id: int, seen: Seen) -> bool:
    """A refund the provider made that no order knew: into the refunds ledger (which books
    the finance ledger) under a purpose of its own, audited as the reconciliation's doing.
    Not when its payment is not ours after all, when the refund is in our ledger already
    under another purpose (its record is late, or its fingerprint stale: a person looks),
    or when a refund of the payment is parked (the provider may have made that one: finance
    decides). True when repaired, now or by an earlier try of this run."""
    payments = PaymentRepository(session)
    payment = payments.for_order(seen.order_id) if seen.order_id else None
    if payment is None or payment.trace_id != seen.trace_id:
        return False
    purpose = f"provider-{seen.ref}"
    ledger = payments.refunds(payment.order_id)
    if any(r.provider_refund_id == seen.ref for r in ledger):
        return any(r.provider_refund_id == seen.ref and r.purpose == purpose for r in ledger)
    if any(r.status == RefundStatus.PARKED.value for r in ledger):
        return False
    payments.record_refund(
        order_id=payment.order_id,
        provider_refund_id=seen.ref,
        provider_payment_id=payment.provider_payment_id,
        amount=seen.amount,
        reason="refunded at the provider, outside orderflow",
        purpose=purpose,
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
    return True


def _still_running(
    session: Session, run_id: int, repaired: list[ReconciliationDifference]
) -> list[FoundRefund]:
    """The run's repairs whose orders still run (told by the workflow); the line goes on
    the timeline of each one that has closed."""
    running = []
    for difference in repaired:
        refund = PaymentRepository(session).refund_by_provider_id(difference.subject)
        if refund is None or refund.currency is None:
            continue
        found = FoundRefund(
            order_id=refund.order_id,
            refund_id=difference.subject,
            amount=refund.amount,
            currency=refund.currency,
            run_id=difference.first_run_id or run_id,
        )
        order = OrderRepository(session).get(found.order_id)
        if order is not None and not is_final(OrderStatus(order.status)):
            running.append(found)
        else:
            _note_on_closed_order(session, found)
    return running[:MAX_REPAIRS]


def _alert(session: Session, run_id: int, difference: Difference) -> None:
    """Finance hears of each difference once while it lasts, with where to look."""
    links = f"/reconciliation/runs/{run_id}"
    if difference.order_id:
        links += f", /orders/{difference.order_id}"
    AlertRepository(session).raise_once(
        kind=AlertKind.PAYMENT_MISMATCH,
        key=_alert_key(difference.kind, difference.subject),
        level=AlertLevel.RED,
        subject=difference.order_id or difference.subject,
        message=f"{difference.kind}: {difference.detail} (see {links})",
        role=AlertRole.FINANCE,
    )


def _alert_key(kind: str, subject: str) -> str:
    return f"payments:{kind}:{subject}"


def _note_on_closed_order(session: Session, found: FoundRefund) -> None:
    OrderRepository(session).note_once(found.order_id, found.note)
