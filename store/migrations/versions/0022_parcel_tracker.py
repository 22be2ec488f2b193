"""parcel tracker: which workflow follows a shipment's parcel, its own ShipmentWorkflow or its
order's (an order of one package runs its parcel itself); every row before it had its own

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shipments') as table:
        table.add_column(
            sa.Column('tracked_by', sa.String(length=16), server_default='shipment', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('shipments') as table:
        table.drop_column('tracked_by')
