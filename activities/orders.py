"""The order's read model: status, timeline, packages and customer messages in the database."""

from __future__ import annotations

from temporalio import activity

from domain.messages import PackagesRecord, TransitionRecord
from store.db import SessionFactory, transaction
from store.repositories import OrderRepository


class OrderActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn
    def record_transition(self, record: TransitionRecord) -> None:
        with transaction(self.sessions) as session:
            _record(OrderRepository(session), record)

    @activity.defn
    def record_packages(self, record: PackagesRecord) -> None:
        """The sub-orders, the customer's "ships in N packages" and the allocation, at once."""
        with transaction(self.sessions) as session:
            orders = OrderRepository(session)
            orders.add_packages(record.transition.order_id, record.packages)
            orders.notify(
                record.transition.order_id,
                key="packages",
                recipient=record.customer_id,
                message=record.message,
            )
            _record(orders, record.transition)


def _record(orders: OrderRepository, record: TransitionRecord) -> None:
    orders.record_transition(
        record.order_id, seq=record.seq, status=record.status, at=record.at, note=record.note
    )
