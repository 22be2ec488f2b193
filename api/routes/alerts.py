"""Alerts people must act on: low stock, late parcels, carrier exceptions, audits, customer
messages that never went out. Most close themselves when the condition ends; a person closes
the rest once they dealt with it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.deps import SessionsDep
from api.schemas import AlertPage, AlertPublic
from domain.access import Role
from domain.contract import AlertKind, AlertRole
from domain.errors import AlertNotFound, Forbidden, InvalidRequest
from store.db import transaction
from store.repositories import AlertRepository

router = APIRouter(prefix="/alerts", tags=["alerts"])

# alerts.id is an INTEGER column: 32 bits in PostgreSQL, and SQLite refuses a Python int
# beyond 64. An ID outside the column's range names no alert and never reaches the database.
LARGEST_ALERT_ID = 2**31 - 1


@router.get("", response_model=AlertPage)
async def list_alerts(
    *,
    sessions: SessionsDep,
    kind: AlertKind | None = None,
    include_resolved: bool = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    caller: PrincipalDep,
) -> AlertPage:
    """Open alerts addressed to the caller's role (all of them for admin), newest first
    (`include_resolved=true` for the history too). Pass `next_cursor` back as `cursor`."""
    before_id = _decode(cursor) if cursor else None
    role = None if caller.role is Role.ADMIN else AlertRole(caller.role.value)

    def page() -> AlertPage:
        with transaction(sessions) as session:
            rows = AlertRepository(session).page(
                kind=kind,
                include_resolved=include_resolved,
                limit=limit,
                before_id=before_id,
                role=role,
            )
            items = [AlertPublic.model_validate(row, from_attributes=True) for row in rows]
        next_cursor = str(items[-1].id) if len(items) == limit else None
        return AlertPage(items=items, next_cursor=next_cursor)

    return await run_in_threadpool(page)


@router.post("/{alert_id}/resolve", response_model=AlertPublic)
async def resolve_alert(
    alert_id: int, *, sessions: SessionsDep, caller: PrincipalDep
) -> AlertPublic:
    """Close an alert someone dealt with (a returned parcel, a message sent by hand). Closing
    one already closed changes nothing; if the condition comes back, a new alert opens.
    Each role closes the alerts addressed to it (admin closes any)."""

    if not 1 <= alert_id <= LARGEST_ALERT_ID:
        raise AlertNotFound(f"no alert {alert_id}")

    def resolve() -> AlertPublic:
        with transaction(sessions) as session:
            alerts = AlertRepository(session)
            alert = alerts.get(alert_id)
            if alert is None:
                raise AlertNotFound(f"no alert {alert_id}")
            if caller.role is not Role.ADMIN and alert.role != caller.role.value:
                raise Forbidden(f"alert {alert_id} is for {alert.role} to close")
            alerts.resolve_id(alert_id)
            return AlertPublic.model_validate(alert, from_attributes=True)

    return await run_in_threadpool(resolve)


def _decode(cursor: str) -> int:
    # Length first: int() of thousands of digits is slow, and refused beyond 4300.
    if len(cursor) <= 10 and cursor.isascii() and cursor.isdigit():
        if (before_id := int(cursor)) <= LARGEST_ALERT_ID:
            return before_id
    raise InvalidRequest("cursor is not one this API returned")
