"""audit log survives TRUNCATE and INSERT OR REPLACE; a ready export's checksums are fixed

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# What a ready export's whole-export checksum vouches for; mailed_at still moves (the
# nightly link is mailed later). A page swapped underneath no longer adds up to sha256.
FIXED_ONCE_READY = ('sha256', 'row_count', 'page_count', 'approved_by', 'approved_at',
                    'requested_by', 'created_from', 'created_until', 'channel', 'status')

SQLITE_GUARDS = [
    # REPLACE deletes the row in its way without firing delete triggers: refuse it first.
    """
    CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
    WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows are never replaced'); END
    """,
    f"""
    CREATE TRIGGER exports_fixed_once_ready BEFORE UPDATE ON exports
    WHEN OLD.status = 'ready' AND ({' OR '.join(f'NEW.{c} IS NOT OLD.{c}' for c in FIXED_ONCE_READY)})
    BEGIN SELECT RAISE(ABORT, 'a ready export never changes'); END
    """,
]
POSTGRES_GUARDS = [
    # Row triggers don't fire on TRUNCATE.
    """
    CREATE FUNCTION audit_log_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: it is never truncated';
    END $$
    """,
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_no_truncate()
    """,
    f"""
    CREATE FUNCTION exports_fixed_once_ready() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.status = 'ready' AND ({' OR '.join(f'NEW.{c} IS DISTINCT FROM OLD.{c}' for c in FIXED_ONCE_READY)}) THEN
            RAISE EXCEPTION 'a ready export never changes';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER exports_fixed_once_ready BEFORE UPDATE ON exports
    FOR EACH ROW EXECUTE FUNCTION exports_fixed_once_ready()
    """,
]


def upgrade() -> None:
    guards = POSTGRES_GUARDS if op.get_bind().dialect.name == 'postgresql' else SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER exports_fixed_once_ready ON exports')
        op.execute('DROP FUNCTION exports_fixed_once_ready()')
        op.execute('DROP TRIGGER audit_log_no_truncate ON audit_log')
        op.execute('DROP FUNCTION audit_log_no_truncate()')
    else:
        op.execute('DROP TRIGGER exports_fixed_once_ready')
        op.execute('DROP TRIGGER audit_log_no_replace')
