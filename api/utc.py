"""Times from callers, in UTC: what the store keeps and compares."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.errors import InvalidRequest


def as_utc(value: datetime, name: str) -> datetime:
    """The same instant in UTC. Schemas take aware times only (``AwareDatetime``); one at the
    edge of the calendar may have no UTC equivalent, and is the caller's mistake (400)."""
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as error:
        raise InvalidRequest(f"{name} is out of range") from error
