"""INSERT ... ON CONFLICT DO NOTHING, the store's way of writing a row once whatever the
retries, on PostgreSQL and SQLite alike; and Core statements in a session's transaction.

The store's hottest statements (a transition, a ledger row, a notification) run as Core
statements on the session's connection: through the ORM's statement layer the same INSERT or
UPDATE took about twice the CPU (docs/benchmarks.md, change 9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Result, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Base


def table_of(model: type[Base]) -> Table:
    """The model's table, for a Core statement (every model here maps one table)."""
    return cast(Table, model.__table__)


def core(session: Session) -> Connection:
    """The session's connection, for a Core statement in its transaction, once the rows the
    session holds are written (as the ORM's autoflush would before its own statement)."""
    session.flush()
    return session.connection()


def on_postgresql(session: Session) -> bool:
    """Whether the session speaks PostgreSQL's dialect; otherwise SQLite's."""
    return session.get_bind().dialect.name == "postgresql"


def insert_for(session: Session) -> Callable[[Table], postgresql.Insert | sqlite.Insert]:
    """The dialect's INSERT, which knows ON CONFLICT (both PostgreSQL and SQLite have it)."""
    return postgresql.insert if on_postgresql(session) else sqlite.insert


def rows_changed(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an INSERT or UPDATE changed (the session answers those with a cursor)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} is not the result of an INSERT or UPDATE")
    return result.rowcount


def insert_once(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row is new. Retries stay harmless."""
    statement = insert_for(session)(table_of(model)).values(**values).on_conflict_do_nothing()
    return bool(rows_changed(core(session).execute(statement)))
