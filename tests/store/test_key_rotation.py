"""Rotation without downtime: rows sealed with an old key are read while the new key takes
over, `rotate` reseals them a batch at a time (stopped, it carries on; done, it does
nothing), and then the old key can leave the ring."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text

from config.keyring import Keyring, UnknownKey
from store.db import SessionFactory, make_engine, make_session_factory, transaction
from store.encryption import sealed_key_id
from store.key_rotation import count_stale, rotate
from store.models import Customer, Order, Payment
from tests.store.personal_data import Person, person, write_order

OLD_KEY, NEW_KEY = os.urandom(32), os.urandom(32)
OLD = Keyring({"old": OLD_KEY}, current="old")
BOTH = Keyring({"old": OLD_KEY, "new": NEW_KEY}, current="new")
NEW_ONLY = Keyring({"new": NEW_KEY}, current="new")
PEOPLE = [person(n) for n in range(1, 8)]


@pytest.fixture
def engines(database_url: str, sessions: SessionFactory) -> Iterator[dict[str, Engine]]:
    """The same (cleaned) database seen by processes holding each of the rings."""
    made = {
        "old": make_engine(database_url, keyring=OLD),
        "both": make_engine(database_url, keyring=BOTH),
        "new only": make_engine(database_url, keyring=NEW_ONLY),
    }
    yield made
    for engine in made.values():
        engine.dispose()


def key_ids(engine: Engine) -> set[str | None]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT email FROM customers UNION ALL SELECT name FROM customers "
                "UNION ALL SELECT shipping_address FROM orders "
                "UNION ALL SELECT client_secret FROM payments"
            )
        )
        return {sealed_key_id(value) for (value,) in rows}


def read_all(engine: Engine) -> list[tuple[str, str, str, str]]:
    with transaction(make_session_factory(engine)) as session:
        rows = session.execute(
            select(Customer.email, Customer.name, Order.shipping_address, Payment.client_secret)
            .join(Order, Order.customer_id == Customer.id)
            .join(Payment, Payment.order_id == Order.id)
            .order_by(Customer.id)
        ).all()
        return [(e, n, a["phone"], s) for e, n, a, s in rows]


def expected(people: list[Person]) -> list[tuple[str, str, str, str]]:
    ordered = sorted(people, key=lambda p: p.customer_id)
    return [(p.email, p.name, p.phone, p.client_secret) for p in ordered]


def test_rows_sealed_with_the_old_key_move_to_the_new_one(engines: dict[str, Engine]) -> None:
    for who in PEOPLE:
        write_order(make_session_factory(engines["old"]), who)
    assert key_ids(engines["old"]) == {"old"}

    # Every process knows both keys and seals with the new one: old rows still read.
    assert read_all(engines["both"]) == expected(PEOPLE)
    # Every table with a sealed column is counted; no address change was asked for here.
    sealed = {"customers": 7, "orders": 7, "payments": 7, "address_changes": 0, "returns": 0}
    assert count_stale(engines["both"], BOTH) == sealed

    report = rotate(engines["both"], BOTH, batch=3)
    assert report.resealed == sealed
    assert key_ids(engines["both"]) == {"new"}

    # Done once, done: a second run finds nothing.
    assert rotate(engines["both"], BOTH).resealed == dict.fromkeys(sealed, 0)

    # The old key leaves the ring; everything still reads.
    assert read_all(engines["new only"]) == expected(PEOPLE)


def test_a_rotation_stopped_halfway_carries_on_when_run_again(
    engines: dict[str, Engine],
) -> None:
    for who in PEOPLE:
        write_order(make_session_factory(engines["old"]), who)

    class Stopped(Exception):
        pass

    def stop_after_first_batch(table: str, rows: int) -> None:
        raise Stopped

    with pytest.raises(Stopped):
        rotate(engines["both"], BOTH, batch=2, progress=stop_after_first_batch)
    # The first batch committed; the rest waits.
    assert count_stale(engines["both"], BOTH)["customers"] == len(PEOPLE) - 2

    rotate(engines["both"], BOTH, batch=2)
    assert key_ids(engines["both"]) == {"new"}
    assert read_all(engines["new only"]) == expected(PEOPLE)


def test_rows_in_clear_from_before_encryption_are_sealed_too(
    engines: dict[str, Engine],
) -> None:
    write_order(make_session_factory(engines["old"]), PEOPLE[0])
    with engines["old"].begin() as connection:
        connection.execute(text("UPDATE customers SET email = :e"), {"e": PEOPLE[0].email})
    rotate(engines["both"], BOTH)
    assert key_ids(engines["both"]) == {"new"}
    assert read_all(engines["new only"]) == expected(PEOPLE[:1])


def test_a_key_removed_too_early_is_named(engines: dict[str, Engine]) -> None:
    write_order(make_session_factory(engines["old"]), PEOPLE[0])
    with pytest.raises(UnknownKey, match="'old'"):
        rotate(engines["new only"], NEW_ONLY)
