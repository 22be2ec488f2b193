"""Migration 0021 fingerprints the movements recorded before it, as the code does for new
ones: the three-way match counts old and new alike."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from domain.reconciliation import Movement, digest
from store.migrate import alembic_config
from tests.store.test_finance_ledger_migration import (
    test_captured_payments_and_made_refunds_are_booked_balanced as booked_before,
)
from tests.store.test_sealing_migration import RING


def test_old_payments_refunds_ledger_and_statement_lines_get_their_fingerprints(
    empty_database: str,
) -> None:
    booked_before(empty_database)  # up to 0018: two payments, a refund made, one parked
    config = alembic_config(empty_database, RING)
    command.upgrade(config, "0020")
    engine = sa.create_engine(empty_database)
    with engine.begin() as connection:
        pull = connection.execute(
            sa.text(
                "INSERT INTO statement_pulls (provider, started_at, lines) "
                "VALUES ('stripe', :now, 0) RETURNING id"
            ),
            {"now": datetime.now(UTC)},
        ).scalar_one()
        connection.execute(
            sa.text(
                "INSERT INTO statement_lines (provider, line_id, type, amount, fee, currency,"
                " source_id, payment_id, created, pull_id) VALUES"
                " ('stripe', 'txn_1', 'refund', -500, 0, 'USD', 're_1', 'pi_web-1', :now, :pull),"
                " ('stripe', 'txn_2', 'payout', -9000, 0, 'usd', 'po_1', NULL, :now, :pull)"
            ),
            {"now": datetime.now(UTC), "pull": pull},
        )

    command.upgrade(config, "0021")

    with engine.connect() as connection:

        def prints(query: str) -> list[tuple[object, ...]]:
            rows = connection.execute(sa.text(query))
            # PostgreSQL answers bytea as a memoryview
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]

        charge = digest("tweb-1", Movement.CHARGE, 3_600, "usd")
        refund = digest("tweb-1", Movement.REFUND, 500, "usd")
        assert prints("SELECT provider_payment_id, fingerprint FROM payments ORDER BY id") == [
            ("pi_web-1", charge),
            ("pi_web-2", None),  # never captured
        ]
        assert prints("SELECT purpose, fingerprint FROM refunds ORDER BY id") == [
            ("refund-1", refund),
            ("refund-2", None),  # parked
        ]
        assert prints(
            "SELECT account, fingerprint FROM finance_entries WHERE fingerprint IS NOT NULL"
            " ORDER BY id"
        ) == [("receivable", charge), ("refunds", refund)]
        assert prints("SELECT line_id, trace_id, fingerprint FROM statement_lines ORDER BY id") == [
            ("txn_1", "tweb-1", refund),
            ("txn_2", None, None),
        ]
