"""payment reconciliation: what a run compared and repaired; each difference's fingerprint
and the run that found it first

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reconciliation_runs') as table:
        table.add_column(sa.Column('new_differences', sa.Integer(), server_default='0', nullable=False))
        table.add_column(sa.Column('repaired', sa.Integer(), server_default='0', nullable=False))
        table.add_column(sa.Column('compared', sa.Integer(), server_default='0', nullable=False))
        table.add_column(sa.Column('provider', sa.String(length=32), nullable=True))
    with op.batch_alter_table('reconciliation_differences') as table:
        table.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))
        table.add_column(sa.Column('first_run_id', sa.Integer(), nullable=True))
        table.add_column(
            sa.Column('repaired', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(
        'ix_reconciliation_differences_kind_subject',
        'reconciliation_differences',
        ['kind', 'subject'],
    )


def downgrade() -> None:
    op.drop_index(
        'ix_reconciliation_differences_kind_subject', table_name='reconciliation_differences'
    )
    with op.batch_alter_table('reconciliation_differences') as table:
        table.drop_column('repaired')
        table.drop_column('first_run_id')
        table.drop_column('fingerprint')
    with op.batch_alter_table('reconciliation_runs') as table:
        table.drop_column('provider')
        table.drop_column('compared')
        table.drop_column('repaired')
        table.drop_column('new_differences')
