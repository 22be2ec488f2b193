"""access tokens and API clients

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'access_tokens',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=True),
        sa.Column('issued_by', sa.String(length=100), nullable=False),
        sa.Column('issued_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_access_tokens_subject', 'access_tokens', ['subject'])
    op.create_index('ix_access_tokens_revoked', 'access_tokens', ['revoked_at', 'expires_at'])
    op.create_table(
        'api_clients',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('api_clients')
    op.drop_index('ix_access_tokens_revoked', table_name='access_tokens')
    op.drop_index('ix_access_tokens_subject', table_name='access_tokens')
    op.drop_table('access_tokens')
