"""reservation plans: intake plans and reserves in one step, which keeps the plan it reserved
so that the step, run again after its commit, returns that plan

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reservation_plans',
        sa.Column('order_id', sa.String(length=100), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('packages', sa.JSON(), nullable=False),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('order_id', 'round'),
    )


def downgrade() -> None:
    op.drop_table('reservation_plans')
