"""finance ledger: double-entry rows for every captured payment and every refund

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'finance_entries',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('trace_id', sa.String(length=32), nullable=True),
        sa.Column('order_id', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('account', sa.String(length=16), nullable=False),
        sa.Column('debit', sa.BigInteger(), nullable=False),
        sa.Column('credit', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('source', sa.String(length=255), nullable=False),
        sa.Column('booked_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source', 'account', name='uq_finance_entry_once'),
    )
    op.create_index('ix_finance_entries_trace_id', 'finance_entries', ['trace_id'])
    op.create_index('ix_finance_entries_order_id', 'finance_entries', ['order_id'])
    # What was captured and refunded before the ledger existed, booked now.
    op.execute(
        "INSERT INTO finance_entries"
        " (trace_id, order_id, kind, account, debit, credit, currency, source, booked_at)"
        " SELECT trace_id, order_id, 'charge', 'receivable', amount, 0, currency,"
        " provider_payment_id, updated_at FROM payments WHERE status = 'succeeded'"
    )
    op.execute(
        "INSERT INTO finance_entries"
        " (trace_id, order_id, kind, account, debit, credit, currency, source, booked_at)"
        " SELECT trace_id, order_id, 'charge', 'sales', 0, amount, currency,"
        " provider_payment_id, updated_at FROM payments WHERE status = 'succeeded'"
    )
    for account, debit, credit in (('refunds', 'amount', '0'), ('receivable', '0', 'amount')):
        op.execute(
            "INSERT INTO finance_entries"
            " (trace_id, order_id, kind, account, debit, credit, currency, source, booked_at)"
            f" SELECT trace_id, order_id, 'refund', '{account}', {debit}, {credit},"
            " currency, provider_refund_id, created_at FROM refunds"
            " WHERE status = 'refunded' AND provider_refund_id IS NOT NULL"
            " AND currency IS NOT NULL"
        )


def downgrade() -> None:
    op.drop_index('ix_finance_entries_order_id', table_name='finance_entries')
    op.drop_index('ix_finance_entries_trace_id', table_name='finance_entries')
    op.drop_table('finance_entries')
