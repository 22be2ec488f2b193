"""A customer's order with the personal data intake writes (name, email, address, phone) and
the payment's client secret, written through the models as the application writes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store.db import SessionFactory, transaction
from store.models import Order
from store.repositories import OrderRepository, PaymentRepository


@dataclass(frozen=True)
class Person:
    customer_id: str
    email: str
    name: str
    phone: str
    street: str
    client_secret: str

    @property
    def address(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phone": self.phone,
            "line1": self.street,
            "city": "Hangzhou",
            "postal_code": "310000",
            "country": "CN",
            "lat": 30.27,
            "lon": 120.15,
        }

    @property
    def clear_values(self) -> list[str]:
        """What must never be found in the database as it is."""
        return [self.email, self.name, self.phone, self.street, self.client_secret]


def person(n: int) -> Person:
    return Person(
        customer_id=f"c-{n}",
        email=f"wang.fang.{n}@example.com",
        name=f"Wang Fang {n}",
        phone=f"+86 139 5555 {n:04d}",
        street=f"{n} Longjing Road",
        client_secret=f"pi_{n}_secret_sealme",
    )


def write_order(sessions: SessionFactory, who: Person) -> str:
    order_id = f"web-{who.customer_id}"
    with transaction(sessions) as session:
        orders = OrderRepository(session)
        orders.add_customer_once(who.customer_id, email=who.email, name=who.name)
        orders.add(
            Order(
                id=order_id,
                channel="web",
                request_fingerprint="f" * 64,
                customer_id=who.customer_id,
                status="pending_payment",
                currency="usd",
                total=1800,
                shipping_address=who.address,
            )
        )
        session.flush()
        PaymentRepository(session).record_intent(
            order_id=order_id,
            provider="stripe",
            provider_payment_id=f"pi_{who.customer_id}",
            client_secret=who.client_secret,
            amount=1800,
            currency="usd",
            status="requires_payment_method",
        )
    return order_id
