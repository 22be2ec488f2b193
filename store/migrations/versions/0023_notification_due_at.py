"""notification due_at: a notification is not sent before it is due, so a reminder to confirm
receipt can be written when the order's window opens and go out from the outbox days later;
every row before it was due when written

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications') as table:
        table.add_column(sa.Column('due_at', store.models.UTCDateTime(timezone=True), nullable=True))
    op.execute('UPDATE notifications SET due_at = created_at')
    with op.batch_alter_table('notifications') as table:
        table.alter_column('due_at', existing_type=store.models.UTCDateTime(timezone=True), nullable=False)
        table.drop_index('ix_notifications_unsent')
        table.create_index('ix_notifications_unsent', ['sent_at', 'due_at'])


def downgrade() -> None:
    with op.batch_alter_table('notifications') as table:
        table.drop_index('ix_notifications_unsent')
        table.create_index('ix_notifications_unsent', ['sent_at', 'created_at'])
        table.drop_column('due_at')
