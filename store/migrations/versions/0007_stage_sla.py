"""stage sla

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sla_statistics',
        sa.Column('stage', sa.String(length=16), nullable=False),
        sa.Column('samples', sa.Integer(), nullable=False),
        sa.Column('mean_seconds', sa.Float(), nullable=False),
        sa.Column('stddev_seconds', sa.Float(), nullable=False),
        sa.Column('computed_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('stage'),
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ready_at', store.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_column('ready_at')
    op.drop_table('sla_statistics')
