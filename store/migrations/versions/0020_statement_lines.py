"""statement lines: the payment provider's statement, pulled into staging tables

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'statement_pulls',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('started_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('cursor', sa.String(length=255), nullable=True),
        sa.Column('newest_at', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('stop_before', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('lines', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_statement_pulls_provider', 'statement_pulls', ['provider'])
    op.create_table(
        'statement_lines',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('line_id', sa.String(length=255), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('fee', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('source_id', sa.String(length=255), nullable=False),
        sa.Column('payment_id', sa.String(length=255), nullable=True),
        sa.Column('created', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('pull_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['pull_id'], ['statement_pulls.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider', 'line_id', name='uq_statement_line_once'),
    )
    op.create_index('ix_statement_lines_payment_id', 'statement_lines', ['payment_id'])


def downgrade() -> None:
    op.drop_index('ix_statement_lines_payment_id', table_name='statement_lines')
    op.drop_table('statement_lines')
    op.drop_index('ix_statement_pulls_provider', table_name='statement_pulls')
    op.drop_table('statement_pulls')
