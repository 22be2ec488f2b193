"""The audit log in the database, on SQLite and on PostgreSQL: no row is ever changed, none
younger than the shortest retention is deleted (triggers, whatever the caller), and the
scheduled purge deletes exactly the rows past the retention, in batches."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from temporalio.testing import ActivityEnvironment

from activities.audit_log import AuditLogActivities
from domain.audit_log import AuditLogPurge
from store.audit_log import AuditFilters, AuditLogRepository
from store.db import SessionFactory, transaction
from store.models import AuditEntry, Export, ExportPage, utcnow


def entry(actor: str, at: datetime) -> AuditEntry:
    return AuditEntry(
        at=at,
        actor=actor,
        role="support",
        action="POST /orders/{order_id}/cancel",
        path="/orders/web-1/cancel",
        order_id="web-1",
        client_ip="10.0.0.1",
        outcome=200,
        request_id=uuid.uuid4().hex,
    )


def add(sessions: SessionFactory, actor: str, *ages: timedelta) -> None:
    now = utcnow()
    with transaction(sessions) as session:
        for age in ages:
            AuditLogRepository(session).append(entry(actor, now - age))


def ages_of(sessions: SessionFactory, actor: str) -> list[int]:
    now = utcnow()
    with transaction(sessions) as session:
        rows, _ = AuditLogRepository(session).page(
            AuditFilters(actor=actor), before_id=None, limit=1000
        )
        return sorted((now - row.at).days for row in rows)


def test_the_repository_can_only_append_page_and_purge() -> None:
    offered = {name for name in vars(AuditLogRepository) if not name.startswith("_")}
    assert offered == {"append", "page", "purge_batch"}


def test_a_row_cannot_be_changed_even_by_hand(sessions: SessionFactory, engine: Engine) -> None:
    actor = f"support:{uuid.uuid4().hex[:8]}"
    add(sessions, actor, timedelta(days=400))
    for statement in (
        "UPDATE audit_log SET outcome = 200 WHERE actor = :actor",
        "UPDATE audit_log SET actor = 'someone else' WHERE actor = :actor",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement), {"actor": actor})
    assert ages_of(sessions, actor) == [400]


def test_a_young_row_cannot_be_deleted_even_by_hand(
    sessions: SessionFactory, engine: Engine
) -> None:
    actor = f"support:{uuid.uuid4().hex[:8]}"
    add(sessions, actor, timedelta(days=179), timedelta(days=181))
    with pytest.raises(DBAPIError, match="180 days"), engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE actor = :actor"), {"actor": actor})
    assert ages_of(sessions, actor) == [179, 181]
    # Past the shortest retention, a row may go (that is what the purge does).
    cutoff = utcnow() - timedelta(days=180)
    with engine.begin() as connection:
        connection.execute(
            text("DELETE FROM audit_log WHERE actor = :actor AND at < :cutoff"),
            {"actor": actor, "cutoff": cutoff.replace(tzinfo=None) if _sqlite(engine) else cutoff},
        )
    assert ages_of(sessions, actor) == [179]


def test_the_purge_deletes_what_is_past_the_retention_in_batches(
    sessions: SessionFactory,
) -> None:
    actor = f"support:{uuid.uuid4().hex[:8]}"
    add(
        sessions,
        actor,
        *(timedelta(days=d) for d in (0, 10, 199, 201, 202, 400, 4000)),
    )
    purge = AuditLogActivities(sessions).purge_audit_log
    request = AuditLogPurge(retention=timedelta(days=200), batch=2)
    purged = ActivityEnvironment().run(purge, request)
    # Other tests' old rows (the log is kept between tests) go too: this test's four, at least.
    assert purged.deleted >= 4 and purged.batches == -(-purged.deleted // 2)
    assert ages_of(sessions, actor) == [0, 10, 199]
    assert ActivityEnvironment().run(purge, request).deleted == 0  # nothing left to do


def test_a_purge_cannot_be_asked_for_less_than_the_shortest_retention() -> None:
    with pytest.raises(ValueError, match="greater than or equal"):
        AuditLogPurge(retention=timedelta(days=179))


def test_the_retention_setting_refuses_less_than_180_days() -> None:
    from config.settings import Settings

    with pytest.raises(ValueError, match="at least 180 days"):
        Settings(audit_retention_days=90)
    assert Settings(audit_retention_days=180).audit_retention_days == 180


def test_an_export_page_never_changes_once_written(
    sessions: SessionFactory, engine: Engine
) -> None:
    now = utcnow()
    with transaction(sessions) as session:
        session.add(
            Export(
                id="exp_frozen",
                requested_by="finance:alice",
                requested_at=now,
                created_from=now - timedelta(days=1),
                created_until=now,
                status="ready",
            )
        )
        session.flush()
        session.add(ExportPage(export_id="exp_frozen", number=1, rows=0, sha256="0" * 64, body=b""))
    with pytest.raises(DBAPIError, match="never change"), engine.begin() as connection:
        connection.execute(text("UPDATE export_pages SET body = :body"), {"body": b"forged"})


def _sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def test_the_log_cannot_be_truncated_or_a_row_replaced(
    sessions: SessionFactory, engine: Engine
) -> None:
    actor = f"support:{uuid.uuid4().hex[:8]}"
    add(sessions, actor, timedelta(days=1))
    if _sqlite(engine):
        with engine.begin() as connection:
            row_id = connection.execute(
                text("SELECT id FROM audit_log WHERE actor = :actor"), {"actor": actor}
            ).scalar_one()
        forged = (
            "INSERT OR REPLACE INTO audit_log (id, at, actor, role, action, path, client_ip, "
            "outcome, request_id) VALUES (:id, '2026-01-01 00:00:00', 'nobody', 'admin', "
            "'GET /audit', '/audit', '127.0.0.1', 200, 'x')"
        )
        with pytest.raises(DBAPIError, match="never replaced"), engine.begin() as connection:
            connection.execute(text(forged), {"id": row_id})
    else:
        with pytest.raises(DBAPIError, match="never truncated"), engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_log"))
    assert ages_of(sessions, actor) == [1]


def test_a_ready_export_keeps_its_checksum(sessions: SessionFactory, engine: Engine) -> None:
    now = utcnow()
    with transaction(sessions) as session:
        session.add(
            Export(
                id="exp_sealed",
                requested_by="finance:alice",
                requested_at=now,
                created_from=now - timedelta(days=1),
                created_until=now,
                status="ready",
                sha256="a" * 64,
            )
        )
    with pytest.raises(DBAPIError, match="never changes"), engine.begin() as connection:
        connection.execute(
            text("UPDATE exports SET sha256 = :s WHERE id = 'exp_sealed'"), {"s": "b" * 64}
        )
    with engine.begin() as connection:  # the nightly link is still mailed later
        connection.execute(
            text("UPDATE exports SET mailed_at = :at WHERE id = 'exp_sealed'"), {"at": now}
        )
