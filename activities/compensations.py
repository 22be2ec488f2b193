"""Batch compensation's steps: which orders it covers, and refunding one that has closed."""

from __future__ import annotations

from temporalio import activity

from domain.compensations import CompensateOrder, CompensationPage, OrderCompensated, OrderPage
from domain.order import OrderStatus, is_final
from domain.refunds import RefundStatus
from integrations.payments import PaymentProvider
from store.db import SessionFactory, transaction
from store.repositories import OrderRepository, PaymentRepository


class CompensationActivities:
    def __init__(self, sessions: SessionFactory, provider: PaymentProvider) -> None:
        self.sessions = sessions
        self.provider = provider

    @activity.defn
    def orders_to_compensate(self, page: CompensationPage) -> OrderPage:
        batch = page.batch
        with transaction(self.sessions) as session:
            ids = OrderRepository(session).paid_with_sku(
                batch.sku, batch.paid_from, batch.paid_until, after=page.after, limit=page.limit
            )
        return OrderPage(order_ids=ids)

    @activity.defn
    def compensate_order(self, ask: CompensateOrder) -> OrderCompensated:
        """Refund a closed order's share (per unit of the SKU, no more than is left), once:
        a refund already in the ledger under the batch's purpose is answered again. An
        order still running is left to its workflow."""
        batch, order_id = ask.batch, ask.order_id
        purpose = batch.for_order().purpose
        with transaction(self.sessions) as session:
            order = OrderRepository(session).get(order_id)
            payments = PaymentRepository(session)
            payment = payments.for_order(order_id)
            ledger = payments.refunds(order_id)
            if order is None or payment is None:
                return OrderCompensated(order_id=order_id)
            if not ask.directly and not is_final(OrderStatus(order.status)):
                return OrderCompensated(order_id=order_id, running=True)
            units = sum(line.quantity for line in order.lines if line.sku == batch.sku)
            intent, currency = payment.provider_payment_id, payment.currency
            done = [r for r in ledger if r.status == RefundStatus.REFUNDED.value]
            left = payment.amount - sum(r.amount for r in done)
        if earlier := next((r for r in done if r.purpose == purpose), None):
            return OrderCompensated(order_id=order_id, amount=earlier.amount)
        amount = min(batch.per_unit * units, left)
        if amount <= 0:
            return OrderCompensated(order_id=order_id)
        refund = self.provider.find_refund(
            payment_id=intent, purpose=purpose
        ) or self.provider.refund_payment(
            payment_id=intent,
            amount=amount,
            idempotency_key=f"order-{order_id}-refund-{purpose}",
            purpose=purpose,
        )
        with transaction(self.sessions) as session:
            PaymentRepository(session).record_refund(
                order_id=order_id,
                provider_refund_id=refund.id,
                provider_payment_id=intent,
                amount=refund.amount,
                reason=batch.reason,
                purpose=purpose,
                currency=currency,
                actor=batch.by,
            )
        return OrderCompensated(order_id=order_id, amount=refund.amount)
