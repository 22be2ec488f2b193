"""payment reconciliation: what a run compared and repaired; each difference's fingerprint
and the run that found it first; every movement's fingerprint, stored beside it (statement
lines, payments, refunds, the ledger's carrying legs), filled in for the rows already there

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reconciliation_runs') as table:
        table.add_column(sa.Column('new_differences', sa.Integer(), server_default='0', nullable=False))
        table.add_column(sa.Column('repaired', sa.Integer(), server_default='0', nullable=False))
        table.add_column(sa.Column('compared', sa.Integer(), server_default='0', nullable=False))
        table.add_column(sa.Column('provider', sa.String(length=32), nullable=True))
    with op.batch_alter_table('reconciliation_differences') as table:
        table.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))
        table.add_column(sa.Column('first_run_id', sa.Integer(), nullable=True))
        table.add_column(
            sa.Column('repaired', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(
        'ix_reconciliation_differences_kind_subject',
        'reconciliation_differences',
        ['kind', 'subject'],
    )
    with op.batch_alter_table('statement_lines') as table:
        table.add_column(sa.Column('trace_id', sa.String(length=32), nullable=True))
    for name in FINGERPRINTED:
        with op.batch_alter_table(name) as table:
            table.add_column(sa.Column('fingerprint', sa.LargeBinary(length=32), nullable=True))
        op.create_index(f'ix_{name}_fingerprint', name, ['fingerprint'])
    _fill_in(op.get_bind())


FINGERPRINTED = ('statement_lines', 'payments', 'refunds', 'finance_entries')


def _digest(trace: str | None, kind: str, amount: int, currency: str) -> bytes:
    """domain.reconciliation.digest as it was when this ran."""
    key = f"{trace or ''}|{kind}|{abs(amount)}|{currency.lower()}"
    return hashlib.sha256(key.encode()).digest()


def _fill_in(connection: sa.Connection) -> None:
    """Fingerprints for the movements already recorded."""
    updates = {
        'statement_lines': connection.execute(sa.text(
            "SELECT s.id, p.trace_id, s.type, s.amount, s.currency FROM statement_lines s "
            "LEFT JOIN payments p ON p.provider_payment_id = s.payment_id "
            "WHERE s.type IN ('charge', 'payment', 'refund', 'payment_refund')"
        )).all(),
        'payments': connection.execute(sa.text(
            "SELECT id, trace_id, 'charge', amount, currency FROM payments "
            "WHERE status = 'succeeded'"
        )).all(),
        'refunds': connection.execute(sa.text(
            "SELECT r.id, coalesce(r.trace_id, p.trace_id), 'refund', r.amount, "
            "coalesce(r.currency, p.currency) FROM refunds r "
            "LEFT JOIN payments p ON p.provider_payment_id = r.provider_payment_id "
            "WHERE r.status = 'refunded' AND coalesce(r.currency, p.currency) IS NOT NULL"
        )).all(),
        'finance_entries': connection.execute(sa.text(
            "SELECT id, trace_id, kind, debit, currency FROM finance_entries "
            "WHERE (kind = 'charge' AND account = 'receivable') "
            "OR (kind = 'refund' AND account = 'refunds')"
        )).all(),
    }  # fmt: skip
    for name, rows in updates.items():
        traced = ", trace_id = :trace" if name == 'statement_lines' else ""
        statement = sa.text(f"UPDATE {name} SET fingerprint = :fp{traced} WHERE id = :id")
        for start in range(0, len(rows), BATCH):  # executemany, a batch at a time
            connection.execute(
                statement,
                [
                    {"fp": _digest(trace, _kind(kind), amount, currency), "trace": trace, "id": id_}
                    for id_, trace, kind, amount, currency in rows[start : start + BATCH]
                ],
            )


BATCH = 5_000


def _kind(kind: str) -> str:
    return 'refund' if kind in ('refund', 'payment_refund') else 'charge'


def downgrade() -> None:
    for name in FINGERPRINTED:
        op.drop_index(f'ix_{name}_fingerprint', table_name=name)
        with op.batch_alter_table(name) as table:
            table.drop_column('fingerprint')
    with op.batch_alter_table('statement_lines') as table:
        table.drop_column('trace_id')
    op.drop_index(
        'ix_reconciliation_differences_kind_subject', table_name='reconciliation_differences'
    )
    with op.batch_alter_table('reconciliation_differences') as table:
        table.drop_column('repaired')
        table.drop_column('first_run_id')
        table.drop_column('fingerprint')
    with op.batch_alter_table('reconciliation_runs') as table:
        table.drop_column('provider')
        table.drop_column('compared')
        table.drop_column('repaired')
        table.drop_column('new_differences')
