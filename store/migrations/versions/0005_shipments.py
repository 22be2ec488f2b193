"""shipments

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('shipments',
    sa.Column('id', sa.String(length=160), nullable=False),
    sa.Column('order_id', sa.String(length=100), nullable=False),
    sa.Column('package', sa.Integer(), nullable=False),
    sa.Column('carrier', sa.String(length=32), nullable=False),
    sa.Column('label_id', sa.String(length=64), nullable=True),
    sa.Column('tracking_number', sa.String(length=64), nullable=True),
    sa.Column('transaction_id', sa.String(length=160), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('label_bought_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pick_started_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('packed_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('picked_up_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('in_transit_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('out_for_delivery_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('exception_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('returned_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('voided_at', store.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('order_id', 'package', name='uq_shipment_package'),
    sa.UniqueConstraint('tracking_number')
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipments_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipments_transaction_id'), ['transaction_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipments_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_shipments_order_id'))

    op.drop_table('shipments')
