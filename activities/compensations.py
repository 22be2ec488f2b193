"""Batch compensation's steps: which orders it covers, and refunding one that has closed."""

from __future__ import annotations

from temporalio import activity

from activities.closed_orders import ClosedRefund, refund_closed_order
from domain.compensations import CompensateOrder, CompensationPage, OrderCompensated, OrderPage
from domain.order import OrderStatus, is_final
from integrations.payments import PaymentProvider
from store.db import SessionFactory, transaction
from store.repositories import OrderRepository


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
        with transaction(self.sessions) as session:
            order = OrderRepository(session).get(order_id)
            if order is None:
                return OrderCompensated(order_id=order_id)
            if not ask.directly and not is_final(OrderStatus(order.status)):
                return OrderCompensated(order_id=order_id, running=True)
            units = sum(line.quantity for line in order.lines if line.sku == batch.sku)
        amount = refund_closed_order(
            self.sessions,
            self.provider,
            ClosedRefund(
                order_id=order_id,
                purpose=batch.for_order().purpose,
                wanted=batch.per_unit * units,
                reason=batch.reason,
                by=batch.by,
            ),
        )
        return OrderCompensated(order_id=order_id, amount=amount)
