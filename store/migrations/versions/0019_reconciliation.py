"""reconciliation: runs and the differences each found

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reconciliation_runs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('started_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('differences', sa.Integer(), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'reconciliation_differences',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('order_id', sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['reconciliation_runs.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('run_id', 'kind', 'subject', name='uq_difference_once'),
    )
    op.create_index(
        'ix_reconciliation_differences_run_id', 'reconciliation_differences', ['run_id']
    )


def downgrade() -> None:
    op.drop_index('ix_reconciliation_differences_run_id', table_name='reconciliation_differences')
    op.drop_table('reconciliation_differences')
    op.drop_table('reconciliation_runs')
