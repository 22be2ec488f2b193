"""audit log (append-only, by trigger), exports and their frozen pages

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.models


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# The shortest retention the settings allow (domain/audit_log.py): no row younger than this
# can be deleted, whatever a process is configured or told to do.
KEEP_DAYS = 180

SQLITE_GUARDS = [
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows are never changed'); END
    """,
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, which compares as text with datetime().
    f"""
    CREATE TRIGGER audit_log_keep_young BEFORE DELETE ON audit_log
    WHEN OLD.at > datetime('now', '-{KEEP_DAYS} days')
    BEGIN SELECT RAISE(ABORT, 'audit_log rows younger than {KEEP_DAYS} days are kept'); END
    """,
    """
    CREATE TRIGGER export_pages_frozen BEFORE UPDATE ON export_pages
    BEGIN SELECT RAISE(ABORT, 'export pages never change once written'); END
    """,
]
POSTGRES_GUARDS = [
    f"""
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            RAISE EXCEPTION 'audit_log is append-only: rows are never changed';
        END IF;
        IF OLD.at > now() - interval '{KEEP_DAYS} days' THEN
            RAISE EXCEPTION 'audit_log rows younger than {KEEP_DAYS} days are kept';
        END IF;
        RETURN OLD;
    END $$
    """,
    """
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
    """,
    """
    CREATE FUNCTION export_pages_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'export pages never change once written';
    END $$
    """,
    """
    CREATE TRIGGER export_pages_frozen BEFORE UPDATE ON export_pages
    FOR EACH ROW EXECUTE FUNCTION export_pages_frozen()
    """,
]


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=True),
        sa.Column('action', sa.String(length=200), nullable=False),
        sa.Column('path', sa.String(length=500), nullable=False),
        sa.Column('order_id', sa.String(length=100), nullable=True),
        sa.Column('client_ip', sa.String(length=64), nullable=True),
        sa.Column('outcome', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_actor', 'audit_log', ['actor', 'id'])
    op.create_index('ix_audit_log_order', 'audit_log', ['order_id', 'id'])
    op.create_table(
        'exports',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('requested_by', sa.String(length=200), nullable=False),
        sa.Column('requested_at', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_from', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_until', store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('approved_by', sa.String(length=200), nullable=True),
        sa.Column('approved_at', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('row_count', sa.Integer(), nullable=True),
        sa.Column('page_count', sa.Integer(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('mailed_at', store.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_exports_requested', 'exports', ['requested_at'])
    op.create_table(
        'export_pages',
        sa.Column('export_id', sa.String(length=64), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('body', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['export_id'], ['exports.id']),
        sa.PrimaryKeyConstraint('export_id', 'number'),
    )
    guards = POSTGRES_GUARDS if op.get_bind().dialect.name == 'postgresql' else SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS export_pages_frozen ON export_pages')
        op.execute('DROP FUNCTION IF EXISTS export_pages_frozen()')
        op.execute('DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log')
        op.execute('DROP FUNCTION IF EXISTS audit_log_append_only()')
    op.drop_table('export_pages')
    op.drop_index('ix_exports_requested', table_name='exports')
    op.drop_table('exports')
    op.drop_index('ix_audit_log_order', table_name='audit_log')
    op.drop_index('ix_audit_log_actor', table_name='audit_log')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
