"""The migration that seals personal data: rows written in clear before it are sealed (in
batches) with the keyring it is given, read back through the models, and opened again by
its downgrade."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from config.keyring import Keyring
from store.db import make_engine, make_session_factory, transaction
from store.encryption import sealed_key_id
from store.migrate import alembic_config
from store.models import Customer, Order, Payment
from tests.store.personal_data import person

SEALING = "0010"
RING = Keyring({"m1": os.urandom(32)}, current="m1")
CUSTOMERS = 510  # more than one batch of the migration's
PEOPLE = [person(n) for n in range(CUSTOMERS)]
WITH_ORDERS = PEOPLE[:3]


def before_sealing(url: str) -> str:
    revision = ScriptDirectory.from_config(alembic_config(url)).get_revision(SEALING)
    assert revision is not None and isinstance(revision.down_revision, str)
    return revision.down_revision


customers = sa.table(
    "customers", sa.column("id"), sa.column("email"), sa.column("name"), sa.column("low_activity")
)
orders = sa.table(
    "orders",
    *(sa.column(name) for name in ("id", "channel", "request_fingerprint", "customer_id")),
    *(sa.column(name) for name in ("status", "currency", "total", "shipping_address")),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
payments = sa.table(
    "payments",
    *(sa.column(name) for name in ("order_id", "provider", "provider_payment_id")),
    *(sa.column(name) for name in ("client_secret", "amount", "currency", "status")),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def write_in_clear(url: str) -> None:
    now = datetime.now(UTC)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            customers.insert(),
            [
                {"id": p.customer_id, "email": p.email, "name": p.name, "low_activity": False}
                for p in PEOPLE
            ],
        )
        for p in WITH_ORDERS:
            order_id = f"web-{p.customer_id}"
            connection.execute(
                orders.insert().values(
                    id=order_id, channel="web", request_fingerprint="f" * 64,
                    customer_id=p.customer_id, status="pending_payment", currency="usd",
                    total=1800, shipping_address=json.dumps(p.address),
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
            connection.execute(
                payments.insert().values(
                    order_id=order_id, provider="stripe", provider_payment_id=f"pi_{order_id}",
                    client_secret=p.client_secret, amount=1800, currency="usd",
                    status="requires_payment_method", created_at=now, updated_at=now,
                )
            )  # fmt: skip
    engine.dispose()


def raw_values(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT email FROM customers UNION ALL SELECT name FROM customers "
                "UNION ALL SELECT CAST(shipping_address AS TEXT) FROM orders "
                "UNION ALL SELECT client_secret FROM payments"
            )
        )
        values = [value for (value,) in rows]
    engine.dispose()
    return values


def test_clear_rows_are_sealed_and_opened_again_by_the_downgrade(empty_database: str) -> None:
    url = empty_database
    config = alembic_config(url, RING)
    before = before_sealing(url)
    command.upgrade(config, before)
    write_in_clear(url)
    clear = sorted(raw_values(url))

    command.upgrade(config, "head")
    sealed = raw_values(url)
    assert {sealed_key_id(value) for value in sealed} == {"m1"}
    engine = make_engine(url, keyring=RING)
    with transaction(make_session_factory(engine)) as session:
        assert {(c.id, c.email, c.name) for c in session.scalars(sa.select(Customer))} == {
            (p.customer_id, p.email, p.name) for p in PEOPLE
        }
        assert {o.customer_id: o.shipping_address for o in session.scalars(sa.select(Order))} == {
            p.customer_id: p.address for p in WITH_ORDERS
        }
        assert sorted(session.scalars(sa.select(Payment.client_secret))) == sorted(
            p.client_secret for p in WITH_ORDERS
        )
    engine.dispose()

    command.downgrade(config, before)
    opened = raw_values(url)
    assert all(sealed_key_id(value) is None for value in opened)
    addresses = [json.loads(v) for v in opened if v.startswith("{")]
    assert sorted(p["phone"] for p in addresses) == sorted(p.phone for p in WITH_ORDERS)
    assert sorted(v for v in opened if not v.startswith("{")) == sorted(
        v for v in clear if not v.startswith("{")
    )
