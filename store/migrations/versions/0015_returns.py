"""returns: one row per RMA; the units a refund gave back

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'returns',
        sa.Column('rma', sa.String(length=120), nullable=False),
        sa.Column('order_id', sa.String(length=100), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('lines', sa.JSON(), nullable=False),
        sa.Column('warehouse', sa.String(length=32), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=True),
        sa.Column('carrier', sa.String(length=32), nullable=True),
        sa.Column('tracking_number', sa.String(length=64), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('expires_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('received_at', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('closed_at', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id']),
        sa.ForeignKeyConstraint(['warehouse'], ['warehouses.code']),
        sa.PrimaryKeyConstraint('rma'),
    )
    op.create_index('ix_returns_order_id', 'returns', ['order_id'])
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('units', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_column('units')
    op.drop_index('ix_returns_order_id', table_name='returns')
    op.drop_table('returns')
