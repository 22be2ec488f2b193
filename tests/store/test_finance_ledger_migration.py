"""Migration 0018 books what was captured and refunded before the finance ledger existed."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from store.migrate import alembic_config
from tests.store.test_sealing_migration import RING

LEDGER = "0018"


def test_captured_payments_and_made_refunds_are_booked_balanced(empty_database: str) -> None:
    url = empty_database
    config = alembic_config(url, RING)
    command.upgrade(config, "0017")
    now = datetime.now(UTC)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO customers (id, email, name, low_activity) VALUES "
                "('c-1', 'x', 'y', false)"
            )
        )
        for order_id, status in (("web-1", "succeeded"), ("web-2", "canceled")):
            connection.execute(
                sa.text(
                    "INSERT INTO orders (id, channel, request_fingerprint, customer_id, status,"
                    " currency, total, shipping_address, created_at, updated_at) VALUES"
                    " (:id, 'web', :f, 'c-1', 'completed', 'usd', 3600, '{}', :now, :now)"
                ),
                {"id": order_id, "f": "f" * 64, "now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO payments (order_id, provider, provider_payment_id,"
                    " client_secret, amount, currency, status, trace_id, created_at,"
                    " updated_at) VALUES (:id, 'stripe', :pi, 's', 3600, 'usd', :status,"
                    " :trace, :now, :now)"
                ),
                {"id": order_id, "pi": f"pi_{order_id}", "status": status,
                 "trace": f"t{order_id}", "now": now},
            )  # fmt: skip
        connection.execute(
            sa.text(
                "INSERT INTO refunds (order_id, provider_refund_id, provider_payment_id, amount,"
                " currency, reason, purpose, status, trace_id, created_at, updated_at) VALUES"
                " ('web-1', 're_1', 'pi_web-1', 500, 'usd', 'r', 'refund-1', 'refunded',"
                " 'tweb-1', :now, :now),"
                " ('web-1', NULL, 'pi_web-1', 900, 'usd', 'r', 'refund-2', 'parked',"
                " 'tweb-1', :now, :now)"
            ),
            {"now": now},
        )

    command.upgrade(config, LEDGER)

    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT kind, account, debit, credit, source FROM finance_entries"
                " ORDER BY kind, account"
            )
        ).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("charge", "receivable", 3600, 0, "pi_web-1"),
        ("charge", "sales", 0, 3600, "pi_web-1"),
        ("refund", "receivable", 0, 500, "re_1"),
        ("refund", "refunds", 500, 0, "re_1"),
    ]
