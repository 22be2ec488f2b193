"""INSERT ... ON CONFLICT DO NOTHING, the store's way of writing a row once whatever the
retries, on PostgreSQL and SQLite alike; and Core statements in a session's transaction.

The store's hottest statements (a transition, a ledger row, a notification) run as Core
statements on the session's connection: through the ORM's statement layer the same INSERT or
UPDATE took about twice the CPU (docs/benchmarks.md, change 9)."""

from __future__ import annotations

from functools import cache
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


def rows_changed(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an INSERT or UPDATE changed (the session answers those with a cursor)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} is not the result of an INSERT or UPDATE")
    return result.rowcount


def insert_once(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row is new. Retries stay harmless.

    The values go as the execution's parameters to a statement built once per table: built
    with them (``.values(...)``) the statement took about twice the CPU of its execution
    (docs/benchmarks.md, change 15). A column left out gets its default, as before."""
    statement = _insert_or_skip(table_of(model), on_postgresql(session))
    return bool(rows_changed(core(session).execute(statement, values)))


@cache
def _insert_or_skip(table: Table, postgres: bool) -> postgresql.Insert | sqlite.Insert:
    # The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite both have it).
    return (postgresql.insert if postgres else sqlite.insert)(table).on_conflict_do_nothing()
