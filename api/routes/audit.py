"""The audit log, for admins: who did what, to which order, from where, and how it ended."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from api.deps import SessionsDep
from api.utc import as_utc
from domain.errors import InvalidRequest
from store.audit_log import AuditFilters, AuditLogRepository
from store.db import transaction
from store.models import AuditEntry

router = APIRouter(prefix="/audit", tags=["audit"])

BIGINT_MAX = 2**63 - 1
# A filter is compared with what was stored; a NUL could never have been.
Text = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    path: str
    order_id: str | None
    client_ip: str | None
    outcome: int
    request_id: str


class AuditPage(BaseModel):
    items: list[AuditEntryPublic]
    next_cursor: str | None


@router.get("", response_model=AuditPage)
async def list_audit_log(
    *,
    sessions: SessionsDep,
    actor: Text = None,
    order_id: Text = None,
    action: Text = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    outcome: Annotated[int | None, Query(ge=100, le=599)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Newest first. `actor` is `role:subject` (`admin:alice`), `anonymous` or `webhook:...`;
    `action` the route as `METHOD /path/{param}`; `since` (inclusive) and `until`
    (exclusive) are times with a zone; `outcome` an HTTP status. Pass `next_cursor` back as
    `cursor` for the next page."""
    filters = AuditFilters(
        actor=actor,
        order_id=order_id,
        action=action,
        since=as_utc(since, "since") if since else None,
        until=as_utc(until, "until") if until else None,
        outcome=outcome,
    )
    before_id = decode_cursor(cursor) if cursor is not None else None

    def page() -> AuditPage:
        with transaction(sessions) as session:
            rows, last = AuditLogRepository(session).page(filters, before_id=before_id, limit=limit)
            return AuditPage(items=_public(rows), next_cursor=encode_cursor(last) if last else None)

    return await run_in_threadpool(page)


def _public(rows: Sequence[AuditEntry]) -> list[AuditEntryPublic]:
    return [AuditEntryPublic.model_validate(row) for row in rows]


def encode_cursor(before_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([before_id]).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int:
    """The row ID a page starts below; 400 for anything ``encode_cursor`` did not make."""
    try:
        (before_id,) = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (TypeError, ValueError, binascii.Error) as error:
        raise InvalidRequest("cursor is not one this API returned") from error
    if type(before_id) is not int or not 1 <= before_id <= BIGINT_MAX:
        raise InvalidRequest("cursor is not one this API returned")
    return before_id
