"""A new order's rows as intake writes them, and how a repeated request finds its order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from store.db import SessionFactory, transaction
from store.models import Order, OrderEvent, OrderLine
from store.repositories import OrderRepository

ADDRESS = {"name": "Wang Fang", "line1": "1 Longjing Road", "city": "Hangzhou", "country": "CN"}


def _order(order_id: str, key: str | None = None) -> Order:
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    return Order(
        id=order_id,
        channel="web",
        idempotency_key=key,
        request_fingerprint="f" * 64,
        customer_id="c-1",
        status="pending_payment",
        currency="cny",
        total=2400,
        shipping_address=ADDRESS,
        created_at=at,
        updated_at=at,
        lines=[OrderLine(sku="TEA-001", quantity=2, unit_price=1200, line_total=2400)],
        timeline=[OrderEvent(seq=1, status="pending_payment", at=at, note="received")],
    )


@pytest.fixture
def orders_db(sessions: SessionFactory) -> SessionFactory:
    """The demo catalog (the sessions' own) and the orders' customer."""
    with transaction(sessions) as session:
        OrderRepository(session).add_customer_once("c-1", email="w@example.com", name="Wang")
    return sessions


def test_a_new_order_reads_back_whole_and_cannot_be_written_twice(
    orders_db: SessionFactory,
) -> None:
    with transaction(orders_db) as session:
        OrderRepository(session).insert_new(_order("web-1", key="k-1"))
    with transaction(orders_db) as session:
        stored = OrderRepository(session).get("web-1")
        assert stored is not None
        assert stored.shipping_address == ADDRESS
        assert [(line.sku, line.quantity, line.line_total) for line in stored.lines] == [
            ("TEA-001", 2, 2400)
        ]
        assert [(event.seq, event.status) for event in stored.timeline] == [(1, "pending_payment")]
    with pytest.raises(IntegrityError), transaction(orders_db) as session:
        OrderRepository(session).insert_new(_order("web-1"))


def test_a_request_finds_its_own_order_before_the_one_holding_its_key(
    orders_db: SessionFactory,
) -> None:
    with transaction(orders_db) as session:
        orders = OrderRepository(session)
        orders.insert_new(_order("web-by-key", key="k-1"))
        orders.insert_new(_order("web-by-number"))
    with transaction(orders_db) as session:
        orders = OrderRepository(session)
        own = orders.of_request("web-by-number", "k-1")
        by_key = orders.of_request("web-new", "k-1")
        assert own is not None and own.id == "web-by-number"
        assert by_key is not None and by_key.id == "web-by-key"
        assert orders.of_request("web-new", None) is None
        assert orders.of_request("web-new", "k-other") is None


def test_a_new_order_without_its_timestamps_gets_them_as_the_orm_would_give_them(
    orders_db: SessionFactory,
) -> None:
    order = _order("web-1")
    order.created_at = order.updated_at = None  # type: ignore[assignment]
    with transaction(orders_db) as session:
        OrderRepository(session).insert_new(order)
    with transaction(orders_db) as session:
        stored = OrderRepository(session).get("web-1")
        assert stored is not None
        assert stored.created_at is not None and stored.updated_at is not None
