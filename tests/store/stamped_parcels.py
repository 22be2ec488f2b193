"""Parcels with given stage stamps, straight into the database, for the statistics tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from store.db import SessionFactory, transaction
from store.models import Customer, Order, Shipment

NOW = datetime.now(UTC).replace(microsecond=0)
NUMBERS = itertools.count()


def parcel(sessions: SessionFactory, **stamps: datetime) -> None:
    """An order with one shipment carrying these stamps."""
    order_id = f"stats-{next(NUMBERS)}"
    with transaction(sessions) as session:
        if session.get(Customer, "stats") is None:
            session.add(Customer(id="stats", email="stats@example.com", name="Stats"))
        session.add(
            Order(
                id=order_id,
                channel="web",
                request_fingerprint=order_id,
                customer_id="stats",
                status="delivered",
                currency="usd",
                total=100,
                shipping_address={"city": "Hangzhou"},
            )
        )
        session.flush()
        session.add(
            Shipment(
                id=f"shipment-{order_id}-1",
                order_id=order_id,
                package=1,
                carrier="sandbox",
                transaction_id=f"{order_id}/1/1",
                status="delivered",
                **stamps,
            )
        )


def picked_in(sessions: SessionFactory, minutes: list[float], ended_ago: timedelta) -> None:
    end = NOW - ended_ago
    for minute in minutes:
        parcel(sessions, ready_at=end - timedelta(minutes=minute), pick_started_at=end)
