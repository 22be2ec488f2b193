"""The finance ledger: every captured payment and every refund booked double-entry, in the
transaction that records it, once whatever the retries, under the payment's trace ID."""

from __future__ import annotations

from domain.access import Role
from store.db import SessionFactory, transaction
from store.ledger import FinanceLedger
from store.repositories import PaymentRepository
from tests.api.test_refunds import delivered_order, refund, trace_of
from tests.conftest import Stack


def booked(sessions: SessionFactory, order_id: str) -> list[tuple[str, str, int, int, str]]:
    with transaction(sessions) as session:
        return [
            (e.kind, e.account, e.debit, e.credit, e.trace_id or "")
            for e in FinanceLedger(session).entries(order_id)
        ]


async def test_a_capture_and_a_refund_are_booked_double_entry_under_one_trace(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    trace = trace_of(sessions, order_id)
    made = await refund(stack, order_id, role=Role.FINANCE, amount=500)
    assert made.status_code == 201, made.text

    assert booked(sessions, order_id) == [
        ("charge", "receivable", 3_600, 0, trace),
        ("charge", "sales", 0, 3_600, trace),
        ("refund", "refunds", 500, 0, trace),
        ("refund", "receivable", 0, 500, trace),
    ]
    with transaction(sessions) as session:
        assert FinanceLedger(session).unbalanced_traces() == []


async def test_recording_the_same_capture_or_refund_again_books_nothing_more(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    await refund(stack, order_id, role=Role.FINANCE, key="once", amount=700)
    before = booked(sessions, order_id)
    with transaction(sessions) as session:
        payments = PaymentRepository(session)
        payment = payments.for_order(order_id)
        [made] = payments.refunds(order_id)
        assert payment is not None and made.provider_refund_id is not None
        # What a retried step does: the same provider view, the same refund, again.
        payments.record_provider_view(
            payment.provider_payment_id, status="succeeded", amount=3_600, currency="usd"
        )
        payments.record_refund(
            order_id=order_id,
            provider_refund_id=made.provider_refund_id,
            provider_payment_id=payment.provider_payment_id,
            amount=700,
            reason="again",
            purpose=made.purpose or "",
        )

    assert booked(sessions, order_id) == before
