"""refund ledger: purposes, parked refunds, actors and one trace ID per payment

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trace_id', sa.String(length=32), nullable=True))
    # One statement: the column's lock is held for one UPDATE, not a loop. Nullable, so a
    # worker of the release before (which does not know the column) can still record payments.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("UPDATE payments SET trace_id = md5(random()::text || id::text)")
    else:
        op.execute("UPDATE payments SET trace_id = lower(hex(randomblob(16)))")
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_payments_trace_id', ['trace_id'])

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.alter_column(
            'provider_refund_id', existing_type=sa.String(length=255), nullable=True
        )
        batch_op.add_column(sa.Column('currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('purpose', sa.String(length=160), nullable=True))
        batch_op.add_column(
            sa.Column(
                'status', sa.String(length=16), nullable=False, server_default='refunded'
            )
        )
        batch_op.add_column(sa.Column('actor', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('problem', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('trace_id', sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column('updated_at', store.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index('ix_refunds_trace_id', ['trace_id'])
        batch_op.create_unique_constraint('uq_refund_purpose', ['order_id', 'purpose'])
    op.execute(
        "UPDATE refunds SET updated_at = created_at,"
        " trace_id = (SELECT p.trace_id FROM payments p"
        "             WHERE p.provider_payment_id = refunds.provider_payment_id),"
        " currency = (SELECT p.currency FROM payments p"
        "             WHERE p.provider_payment_id = refunds.provider_payment_id)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM refunds WHERE provider_refund_id IS NULL")  # parked: no money moved
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_constraint('uq_refund_purpose', type_='unique')
        batch_op.drop_index('ix_refunds_trace_id')
        for column in ('updated_at', 'trace_id', 'problem', 'actor', 'status', 'purpose',
                       'currency'):
            batch_op.drop_column(column)
        batch_op.alter_column(
            'provider_refund_id', existing_type=sa.String(length=255), nullable=False
        )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint('uq_payments_trace_id', type_='unique')
        batch_op.drop_column('trace_id')
