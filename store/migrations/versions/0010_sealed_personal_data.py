"""personal data sealed at rest: customers' email and name, shipping addresses, client secrets

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from config.keyring import Keyring
from store.encryption import keyring_of, open_text, seal_text, sealed_key_id


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# table: (its primary key and the key's type, each sealed column with its type before)
SEALED = {
    'customers': (
        'id', sa.String(), {'email': sa.String(length=320), 'name': sa.String(length=200)}
    ),
    'orders': ('id', sa.String(), {'shipping_address': sa.JSON()}),
    'payments': ('id', sa.Integer(), {'client_secret': sa.String(length=255)}),
}
BATCH = 500


def upgrade() -> None:
    for table, (_, _, columns) in SEALED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, before in columns.items():
                batch_op.alter_column(
                    column,
                    existing_type=before,
                    type_=sa.Text(),
                    existing_nullable=False,
                    postgresql_using=f'{column}::text',
                )
    keyring = keyring_of(op.get_bind().dialect)
    for table in SEALED:
        _rewrite(table, lambda stored, aad: _sealed(keyring, stored, aad))


def downgrade() -> None:
    keyring = keyring_of(op.get_bind().dialect)
    for table in SEALED:
        _rewrite(table, lambda stored, aad: _opened(keyring, stored, aad))
    for table, (_, _, columns) in SEALED.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, before in columns.items():
                using = f'{column}::json' if isinstance(before, sa.JSON) else None
                batch_op.alter_column(
                    column,
                    existing_type=sa.Text(),
                    type_=before,
                    existing_nullable=False,
                    postgresql_using=using,
                )


def _sealed(keyring: Keyring, stored: str, aad: bytes) -> str:
    if sealed_key_id(stored) is not None:
        return stored
    return seal_text(keyring, stored.encode(), aad)


def _opened(keyring: Keyring, stored: str, aad: bytes) -> str:
    if sealed_key_id(stored) is None:
        return stored
    return open_text(keyring, stored, aad).decode()


def _rewrite(table_name: str, change: Callable[[str, bytes], str]) -> None:
    """Every row of the table, a batch at a time in key order, each sealed column changed."""
    key_name, key_type, columns = SEALED[table_name]
    table = sa.table(
        table_name, sa.column(key_name, key_type), *(sa.column(name, sa.Text()) for name in columns)
    )
    key = table.c[key_name]
    connection = op.get_bind()
    last = None
    while True:
        query = sa.select(table).order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        rows = connection.execute(query).mappings().all()
        if not rows:
            return
        for row in rows:
            values = {
                name: change(row[name], f'{table_name}.{name}'.encode())
                for name in columns
                if row[name] is not None
            }
            connection.execute(
                table.update().where(key == row[key_name]).values(**values)
            )
        last = rows[-1][key_name]
