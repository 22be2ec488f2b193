"""webhook log: every webhook received, for replaying and debugging integrations

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'webhook_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('event_id', sa.String(length=255), nullable=True),
        sa.Column('received_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('signature', sa.Text(), nullable=True),
        sa.Column('signature_ok', sa.Boolean(), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.Column('body_size', sa.Integer(), nullable=False),
        sa.Column('replay_of', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhook_log_event_id', 'webhook_log', ['event_id'])
    op.create_index('ix_webhook_log_received_at', 'webhook_log', ['received_at'])


def downgrade() -> None:
    op.drop_index('ix_webhook_log_received_at', table_name='webhook_log')
    op.drop_index('ix_webhook_log_event_id', table_name='webhook_log')
    op.drop_table('webhook_log')
