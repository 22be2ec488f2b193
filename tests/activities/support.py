"""What the step tests on the real database start from."""

from __future__ import annotations

from domain.order import OrderStatus
from store.db import SessionFactory, transaction
from store.models import Customer, Order
from tests.helpers import HANGZHOU_ADDRESS


def stored_order(
    sessions: SessionFactory, order_id: str, customer_id: str, status: OrderStatus, total: int
) -> str:
    """An order of a customer of its own, bound for Hangzhou, as intake and its steps left it."""
    with transaction(sessions) as session:
        email = f"{customer_id}@example.com"
        session.add(Customer(id=customer_id, email=email, name=customer_id))
        session.flush()
        session.add(
            Order(
                id=order_id,
                channel="web",
                request_fingerprint=order_id,
                customer_id=customer_id,
                status=status,
                currency="usd",
                total=total,
                shipping_address=dict(HANGZHOU_ADDRESS),
            )
        )
    return order_id
