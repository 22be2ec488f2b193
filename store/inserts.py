"""INSERT ... ON CONFLICT DO NOTHING, the store's way of writing a row once whatever the
retries, on PostgreSQL and SQLite alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import CursorResult, Result
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Base


def insert_for(session: Session) -> Callable[[type[Base]], postgresql.Insert | sqlite.Insert]:
    """The dialect's INSERT, which knows ON CONFLICT (both PostgreSQL and SQLite have it)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def rows_changed(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an INSERT or UPDATE changed (the session answers those with a cursor)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} is not the result of an INSERT or UPDATE")
    return result.rowcount


def insert_once(session: Session, model: type[Base], values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row is new. Retries stay harmless."""
    result = session.execute(insert_for(session)(model).values(**values).on_conflict_do_nothing())
    return bool(rows_changed(result))
