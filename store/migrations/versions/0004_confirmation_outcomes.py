"""confirmation outcomes, places, notification delivery

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('confirmation_outcomes',
    sa.Column('order_id', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('at', store.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('order_id')
    )
    with op.batch_alter_table('confirmation_outcomes', schema=None) as batch_op:
        batch_op.create_index('ix_confirmation_outcomes_customer', ['customer_id', 'at'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low_activity', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_at', store.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))

    with op.batch_alter_table('warehouses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('city', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('province', sa.String(length=100), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('warehouses', schema=None) as batch_op:
        batch_op.drop_column('province')
        batch_op.drop_column('city')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('last_error')
        batch_op.drop_column('sent_at')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('low_activity')

    with op.batch_alter_table('confirmation_outcomes', schema=None) as batch_op:
        batch_op.drop_index('ix_confirmation_outcomes_customer')

    op.drop_table('confirmation_outcomes')
