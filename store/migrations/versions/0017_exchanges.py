"""exchanges: a return's replacement, and the payment for a dearer one

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replacement', sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column('difference', sa.BigInteger(), nullable=False, server_default='0')
        )
        batch_op.add_column(sa.Column('payment_intent_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('client_secret', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        for column in ('client_secret', 'payment_intent_id', 'difference', 'replacement'):
            batch_op.drop_column(column)
