"""Personal data is sealed at rest: read through plain SQL, no table holds a customer's
email, name, phone or street, nor a payment's client secret; read through the models, all
of it comes back."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, select, text

from store.db import SessionFactory, make_engine, make_session_factory, transaction
from store.encryption import MissingKeyring, sealed_key_id
from store.models import Base, Customer, Order, Payment
from store.repositories import OrderRepository
from tests.conftest import KEYRING
from tests.store.personal_data import person, write_order


def every_stored_text(engine: Engine) -> list[str]:
    """Every value of every table, as the database returns it to plain SQL."""
    found = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                found.extend(str(value) for value in row if value is not None)
    return found


def test_no_table_holds_personal_data_in_clear(sessions: SessionFactory, engine: Engine) -> None:
    who = person(1)
    write_order(sessions, who)
    # Intake refreshes the customer on every order: the update is sealed too.
    write_order(sessions, person(2))
    with transaction(sessions) as session:
        OrderRepository(session).add_customer_once(who.customer_id, email=who.email, name=who.name)

    stored = every_stored_text(engine)
    leaks = [v for v in stored for clear in who.clear_values if clear in v]
    assert leaks == []
    with engine.connect() as connection:
        raw = connection.execute(text("SELECT email, name FROM customers")).all()
        raw += connection.execute(text("SELECT shipping_address, '' FROM orders")).all()
        raw += connection.execute(text("SELECT client_secret, '' FROM payments")).all()
    sealed = [value for row in raw for value in row if value]
    assert {sealed_key_id(value) for value in sealed} == {KEYRING.current}


def test_the_models_read_it_back(sessions: SessionFactory) -> None:
    who = person(3)
    order_id = write_order(sessions, who)
    with transaction(sessions) as session:
        customer = session.get(Customer, who.customer_id)
        order = session.get(Order, order_id)
        payment = session.scalar(select(Payment).where(Payment.order_id == order_id))
    assert customer is not None and (customer.email, customer.name) == (who.email, who.name)
    assert order is not None and order.shipping_address == who.address
    assert payment is not None and payment.client_secret == who.client_secret


def test_values_stored_before_encryption_still_read(
    sessions: SessionFactory, engine: Engine
) -> None:
    """A row a process from before this release wrote during the upgrade: read as it is,
    and resealed by the next key rotation."""
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO customers (id, email, name, low_activity) VALUES (:i, :e, :n, :l)"),
            {"i": "c-old", "e": "old@example.com", "n": "Old Timer", "l": False},
        )
    with transaction(sessions) as session:
        customer = session.get(Customer, "c-old")
        assert customer is not None and customer.email == "old@example.com"


def test_an_engine_without_a_keyring_says_so(sessions: SessionFactory, database_url: str) -> None:
    write_order(sessions, person(4))
    bare = make_engine(database_url)
    try:
        with pytest.raises(MissingKeyring, match="keyring"):
            with transaction(make_session_factory(bare)) as session:
                session.scalars(select(Customer)).all()
    finally:
        bare.dispose()


def test_every_sealed_column_is_bound_to_its_own_place() -> None:
    """A value copied into another column must not open there: each column seals under
    its own table and name."""
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            aad = getattr(column.type, "aad", None)
            if aad is not None:
                assert aad == f"{table.name}.{column.name}"
