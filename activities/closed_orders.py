"""Money back on an order whose workflow has closed: nobody else keeps its count, so the
ledger does. Used by batch compensations and passed returns."""

from __future__ import annotations

from dataclasses import dataclass

from domain.refunds import RefundStatus
from integrations.payments import PaymentProvider, refund_once
from store.db import SessionFactory, transaction
from store.repositories import OrderRepository, PaymentRepository


@dataclass(frozen=True)
class ClosedRefund:
    order_id: str
    purpose: str  # once per order: the ledger's key and the provider's
    wanted: int  # what to give back, if that much is left
    reason: str
    by: str | None
    units: dict[str, int] | None = None


def refund_closed_order(
    sessions: SessionFactory, provider: PaymentProvider, refund: ClosedRefund
) -> int:
    """Give back ``wanted`` (no more than the payment has left), once per purpose; returns
    what this purpose refunded (0: nothing left, or no payment)."""
    with transaction(sessions) as session:
        payment = PaymentRepository(session).for_order(refund.order_id)
        ledger = PaymentRepository(session).refunds(refund.order_id)
        if payment is None or OrderRepository(session).get(refund.order_id) is None:
            return 0
        intent, currency = payment.provider_payment_id, payment.currency
        done = [r for r in ledger if r.status == RefundStatus.REFUNDED.value]
        left = payment.amount - sum(r.amount for r in done)
    if earlier := next((r for r in done if r.purpose == refund.purpose), None):
        return earlier.amount
    amount = min(refund.wanted, left)
    if amount <= 0:
        return 0
    made = refund_once(
        provider,
        payment_id=intent,
        amount=amount,
        purpose=refund.purpose,
        key=f"order-{refund.order_id}-refund-{refund.purpose}",
    )
    with transaction(sessions) as session:
        PaymentRepository(session).record_refund(
            order_id=refund.order_id,
            provider_refund_id=made.id,
            provider_payment_id=intent,
            amount=made.amount,
            reason=refund.reason,
            purpose=refund.purpose,
            currency=currency,
            actor=refund.by,
            units=refund.units,
        )
    return made.amount
