"""The three-way match: provider statement ↔ payments and refunds ↔ finance ledger.

One seeded difference of every class among movements that agree: each is found exactly
once and nothing else is; a run again reports nothing new; the one repair (a refund made
at the provider's dashboard) lands in both ledgers and the audit log once, however often
the run is repeated."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from temporalio.testing import ActivityEnvironment

from activities.reconciliation import RECONCILIATION_ACTOR, ReconciliationActivities
from domain.contract import AlertKind
from domain.ledger import EntryKind
from domain.order import OrderStatus
from domain.reconciliation import (
    DifferenceClass,
    Movement,
    PaymentsReconciled,
    ReconciliationKind,
    ReconciliationRequest,
    fingerprint,
)
from domain.statements import StatementLine
from store.db import SessionFactory, transaction
from store.ledger import FinanceLedger
from store.models import (
    Alert,
    AuditEntry,
    FinanceEntry,
    Order,
    OrderEvent,
    Payment,
    Refund,
    utcnow,
)
from store.reconciliation import ReconciliationRepository
from store.repositories import CAPTURED, PaymentRepository
from store.statements import StatementRepository
from tests.store.personal_data import person, write_order

PAYMENTS_RUN = ReconciliationRequest(kind=ReconciliationKind.PAYMENTS, grace=timedelta(0))


class Books:
    """Orders paid at 36.00 USD, as our tables and the provider's statement tell them."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        self.lines: list[StatementLine] = []
        self.n = 0

    def paid_order(self, *, booked: bool = True) -> str:
        """An order captured here (and booked in the finance ledger unless ``booked`` is
        False); returns its payment's ID."""
        self.n += 1
        order_id = write_order(self.sessions, person(self.n))
        with transaction(self.sessions) as session:
            payments = PaymentRepository(session)
            payment = payments.for_order(order_id)
            assert payment is not None
            payments.record_provider_view(
                payment.provider_payment_id, status=CAPTURED, amount=3_600, currency="usd"
            )
            if not booked:  # its booking lost
                session.execute(delete(FinanceEntry).where(FinanceEntry.order_id == order_id))
            return payment.provider_payment_id

    def refunded_here(self, intent: str, refund_id: str, amount: int) -> None:
        with transaction(self.sessions) as session:
            payment = session.scalar(select(Payment).where(Payment.provider_payment_id == intent))
            assert payment is not None
            PaymentRepository(session).record_refund(
                order_id=payment.order_id,
                provider_refund_id=refund_id,
                provider_payment_id=intent,
                amount=amount,
                reason="damaged",
                purpose=f"refund-{refund_id}",
                currency="usd",
            )

    def on_statement(
        self,
        kind: Movement,
        source: str,
        intent: str | None,
        amount: int,
        currency: str = "usd",
        at: datetime | None = None,
    ) -> None:
        signed = amount if kind is Movement.CHARGE else -amount
        self.lines.append(
            StatementLine(
                id=f"txn_{len(self.lines) + 1}",
                type=kind.value,
                amount=signed,
                fee=0,
                currency=currency,
                source_id=source,
                payment_id=intent,
                created=at or utcnow(),
            )
        )

    def pull(self) -> None:
        with transaction(self.sessions) as session:
            statements = StatementRepository(session)
            pull = statements.current_pull("stripe")
            statements.store(pull.id, "stripe", self.lines)
            statements.finish(pull.id)


def reconcile(
    sessions: SessionFactory, request: ReconciliationRequest = PAYMENTS_RUN
) -> PaymentsReconciled:
    """A run as its workflow makes it: its row opened, then the match."""
    activities, environment = ReconciliationActivities(sessions), ActivityEnvironment()
    opened = environment.run(activities.open_reconciliation_run, request)
    asked = request.model_copy(update={"run_id": opened.run_id})
    done: PaymentsReconciled = environment.run(activities.reconcile_payments, asked)
    return done


def found(sessions: SessionFactory, run_id: int) -> dict[str, DifferenceClass]:
    with transaction(sessions) as session:
        rows = ReconciliationRepository(session).differences(run_id, after=None, limit=500)
        return {row.subject: DifferenceClass(row.kind) for row in rows}


def seeded(sessions: SessionFactory) -> tuple[Books, dict[str, DifferenceClass], str]:
    """Every class once, among movements that agree; returns the expected differences by
    the provider's ID of their movement, and the payment whose refund is not synced."""
    books = Books(sessions)
    first = books.paid_order()
    books.on_statement(Movement.CHARGE, "ch_1", first, 3_600, at=utcnow() - timedelta(hours=1))
    books.refunded_here(first, "re_agreed", 500)
    books.on_statement(Movement.REFUND, "re_agreed", first, 500)

    only_here = books.paid_order()
    unbooked = books.paid_order(booked=False)
    books.on_statement(Movement.CHARGE, "ch_3", unbooked, 3_600)
    cheaper = books.paid_order()
    books.on_statement(Movement.CHARGE, "ch_4", cheaper, 3_500)
    in_euros = books.paid_order()
    books.on_statement(Movement.CHARGE, "ch_5", in_euros, 3_600, currency="eur")
    booked_twice = books.paid_order()
    books.on_statement(Movement.CHARGE, "ch_6", booked_twice, 3_600)
    books.refunded_here(booked_twice, "re_twice", 700)
    books.on_statement(Movement.REFUND, "re_twice", booked_twice, 700)
    with transaction(sessions) as session:
        payment = PaymentRepository(session).for_order(f"web-{person(6).customer_id}")
        assert payment is not None
        FinanceLedger(session).book(
            EntryKind.REFUND,
            order_id=payment.order_id,
            trace_id=payment.trace_id,
            amount=700,
            currency="usd",
            source="manual-entry-17",
        )
    dashboard = books.paid_order()
    with transaction(sessions) as session:  # delivered and confirmed: its workflow has closed
        session.execute(
            update(Order).where(Order.id == "web-c-7").values(status=OrderStatus.COMPLETED.value)
        )
    books.on_statement(Movement.CHARGE, "ch_7", dashboard, 3_600)
    books.on_statement(Movement.REFUND, "re_dashboard", dashboard, 1_000)
    books.on_statement(Movement.CHARGE, "ch_stranger", "pi_nobody_knows", 4_200)
    books.pull()
    return (
        books,
        {
            only_here: DifferenceClass.MISSING_AT_PROVIDER,
            "pi_nobody_knows": DifferenceClass.MISSING_IN_ORDERS,
            unbooked: DifferenceClass.MISSING_IN_LEDGER,
            cheaper: DifferenceClass.AMOUNT_MISMATCH,
            in_euros: DifferenceClass.CURRENCY_MISMATCH,
            "manual-entry-17": DifferenceClass.DUPLICATE_BOOKING,
            "re_dashboard": DifferenceClass.REFUND_NOT_SYNCED,
        },
        dashboard,
    )


def test_every_class_of_difference_is_found_once_and_nothing_else(
    sessions: SessionFactory,
) -> None:
    _, expected, _ = seeded(sessions)

    done = reconcile(sessions)

    summary = done.summary
    assert found(sessions, summary.run_id) == expected
    assert (summary.differences, summary.new_differences, summary.repaired) == (7, 7, 1)
    assert summary.compared == 10 + 1  # the statement's movements, and ours it lacks
    with transaction(sessions) as session:
        alerts = session.scalars(select(Alert).where(Alert.kind == AlertKind.PAYMENT_MISMATCH))
        alerted = sorted(alert.message.split(":")[0] for alert in alerts)
    # Every difference but the repaired one alerts finance, with the run to look at.
    assert alerted == sorted(k.value for k in expected.values() if k.value != "refund_not_synced")


def test_a_refund_made_at_the_dashboard_is_repaired_once_and_a_rerun_finds_nothing_new(
    sessions: SessionFactory,
) -> None:
    began = utcnow()  # the audit log outlives each test's tables
    _, expected, dashboard = seeded(sessions)
    first = reconcile(sessions)

    again = reconcile(sessions)

    assert again.summary.new_differences == 0 and again.summary.repaired == 0
    del expected["re_dashboard"]
    assert found(sessions, again.summary.run_id) == expected
    with transaction(sessions) as session:
        refunds = list(
            session.scalars(select(Refund).where(Refund.provider_payment_id == dashboard))
        )
        assert [(r.provider_refund_id, r.amount, r.actor) for r in refunds] == [
            ("re_dashboard", 1_000, RECONCILIATION_ACTOR)
        ]
        order_id = refunds[0].order_id
        legs = [
            (e.kind, e.account, e.debit, e.credit) for e in FinanceLedger(session).entries(order_id)
        ]
        assert legs.count(("refund", "refunds", 1_000, 0)) == 1
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.order_id == order_id, AuditEntry.at >= began)
        )
        assert audited == 1
        alerts = session.scalar(
            select(func.count()).select_from(Alert).where(Alert.kind == AlertKind.PAYMENT_MISMATCH)
        )
        assert alerts == 6  # one per difference while it lasts, not one per run
    # The order's workflow has closed: no one to tell, and its timeline got the line, once.
    assert first.running == []
    with transaction(sessions) as session:
        notes = [
            e.note or ""
            for e in session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id))
        ]
    assert sum("re_dashboard" in note and "reconciliation run 1" in note for note in notes) == 1


def test_movements_younger_than_the_grace_wait_for_the_next_run(
    sessions: SessionFactory,
) -> None:
    seeded(sessions)
    patient = PAYMENTS_RUN.model_copy(update={"grace": timedelta(minutes=30)})

    done = reconcile(sessions, patient)

    # Only the agreed charge is older than the grace; everything else is minutes old.
    assert done.summary.differences == 0


def test_a_difference_carries_the_sha256_of_its_normalized_key(sessions: SessionFactory) -> None:
    books = Books(sessions)
    intent = books.paid_order()
    books.on_statement(Movement.CHARGE, "ch_1", intent, 3_500)  # differs: stored with its print
    books.pull()

    run = reconcile(sessions).summary

    with transaction(sessions) as session:
        [row] = ReconciliationRepository(session).differences(run.run_id, after=None, limit=5)
        trace = session.scalar(
            select(Payment.trace_id).where(Payment.provider_payment_id == intent)
        )
    assert row.fingerprint == fingerprint(trace, Movement.CHARGE, 3_500, "USD")


def test_a_retried_run_still_tells_the_orders_an_earlier_try_repaired(
    sessions: SessionFactory,
) -> None:
    books = Books(sessions)
    intent = books.paid_order()  # pending in the database: its workflow would still run
    books.on_statement(Movement.CHARGE, "ch_1", intent, 3_600, at=utcnow() - timedelta(hours=1))
    books.on_statement(Movement.REFUND, "re_dash", intent, 900)
    books.pull()
    activities, environment = ReconciliationActivities(sessions), ActivityEnvironment()
    opened = environment.run(activities.open_reconciliation_run, PAYMENTS_RUN)
    asked = PAYMENTS_RUN.model_copy(update={"run_id": opened.run_id})

    first = environment.run(activities.reconcile_payments, asked)
    retried = environment.run(activities.reconcile_payments, asked)  # the answer was lost

    assert [f.refund_id for f in first.running] == ["re_dash"]
    assert retried.running == first.running
    assert (retried.summary.differences, retried.summary.repaired) == (1, 1)


def test_a_refund_already_ours_or_a_parked_one_is_never_repaired_but_alerted(
    sessions: SessionFactory,
) -> None:
    books = Books(sessions)
    stale = books.paid_order()
    books.on_statement(Movement.CHARGE, "ch_1", stale, 3_600, at=utcnow() - timedelta(hours=1))
    books.refunded_here(stale, "re_ours", 400)
    with transaction(sessions) as session:  # written by a worker that left no fingerprints
        session.execute(update(Refund).values(fingerprint=None))
        session.execute(
            update(FinanceEntry).values(fingerprint=None).where(FinanceEntry.kind == "refund")
        )
    books.on_statement(Movement.REFUND, "re_ours", stale, 400)
    parked = books.paid_order()
    books.on_statement(Movement.CHARGE, "ch_2", parked, 3_600)
    with transaction(sessions) as session:
        PaymentRepository(session).park_refund(
            order_id="web-c-2", provider_payment_id=parked, amount=600, currency="usd",
            reason="damaged", purpose="refund-k", actor="finance:fei", problem="timed out",
        )  # fmt: skip
    books.on_statement(Movement.REFUND, "re_maybe_the_parked_one", parked, 600)
    books.pull()

    done = reconcile(sessions)

    assert found(sessions, done.summary.run_id) == {
        "re_ours": DifferenceClass.REFUND_NOT_SYNCED,
        "re_maybe_the_parked_one": DifferenceClass.REFUND_NOT_SYNCED,
    }
    assert done.summary.repaired == 0 and done.running == []
    with transaction(sessions) as session:
        refunds = sorted(
            (r.provider_refund_id or "", r.status) for r in session.scalars(select(Refund))
        )
        alerts = session.scalar(
            select(func.count()).select_from(Alert).where(Alert.open_key.is_not(None))
        )
    assert refunds == [("", "parked"), ("re_ours", "refunded")]
    assert alerts == 2


def test_an_alert_closes_once_a_run_no_longer_finds_its_difference(
    sessions: SessionFactory,
) -> None:
    books = Books(sessions)
    intent = books.paid_order(booked=False)
    books.on_statement(Movement.CHARGE, "ch_1", intent, 3_600, at=utcnow() - timedelta(hours=1))
    books.pull()
    reconcile(sessions)
    with transaction(sessions) as session:  # finance books it by hand
        payment = PaymentRepository(session).for_order("web-c-1")
        assert payment is not None
        FinanceLedger(session).book(
            EntryKind.CHARGE, order_id="web-c-1", trace_id=payment.trace_id, amount=3_600,
            currency="usd", source=intent,
        )  # fmt: skip

    again = reconcile(sessions)

    assert again.summary.differences == 0
    with transaction(sessions) as session:
        [alert] = session.scalars(select(Alert).where(Alert.kind == AlertKind.PAYMENT_MISMATCH))
    assert alert.resolved_at is not None and alert.open_key is None
