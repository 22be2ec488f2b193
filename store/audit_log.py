"""The audit log's repository: append, page, purge. Nothing here updates a row, and nothing
deletes one but the purge of rows past their retention (the database enforces both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from store.inserts import core, table_of
from store.models import AuditEntry

_APPEND = insert(AuditEntry)
_COLUMNS = [column.key for column in table_of(AuditEntry).columns if not column.primary_key]


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    order_id: str | None = None
    action: str | None = None
    since: datetime | None = None  # at or after
    until: datetime | None = None  # before
    outcome: int | None = None


class AuditLogRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, entry: AuditEntry) -> None:
        """Write the row: a Core INSERT, as nothing reads it back (the unit of work took
        about twice the CPU, docs/benchmarks.md change 11)."""
        core(self.session).execute(_APPEND, {key: getattr(entry, key) for key in _COLUMNS})

    def page(
        self, filters: AuditFilters, *, before_id: int | None, limit: int
    ) -> tuple[Sequence[AuditEntry], int | None]:
        """Newest first (by ID: the order rows were written in). The second value is where
        the next page starts, or None on the last."""
        query = select(AuditEntry)
        for column, value in (
            (AuditEntry.actor, filters.actor),
            (AuditEntry.order_id, filters.order_id),
            (AuditEntry.action, filters.action),
            (AuditEntry.outcome, filters.outcome),
        ):
            if value is not None:
                query = query.where(column == value)
        if filters.since is not None:
            query = query.where(AuditEntry.at >= filters.since)
        if filters.until is not None:
            query = query.where(AuditEntry.at < filters.until)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        rows = self.session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
        if len(rows) <= limit:
            return rows, None
        return rows[:limit], rows[limit - 1].id

    def purge_batch(self, *, older_than: datetime, batch: int) -> int:
        """Delete up to ``batch`` of the oldest rows written before ``older_than``; how many
        went. The caller commits each batch, so no purge holds a long lock."""
        ids = self.session.scalars(
            select(AuditEntry.id)
            .where(AuditEntry.at < older_than)
            .order_by(AuditEntry.id)
            .limit(batch)
        ).all()
        if not ids:
            return 0
        self.session.execute(
            delete(AuditEntry).where(AuditEntry.id.in_(ids)),
            execution_options={"synchronize_session": False},
        )
        return len(ids)
