"""Exports of orders for finance, released by a second person.

Finance asks for the orders of a time range (`POST /exports`); a different person holding
admin approves (`POST /exports/{id}/approve`), which writes the pages once and for all; then
finance downloads them, each download audited. Formats and checksums: ``domain/exports.py``.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from pydantic import AwareDatetime, BaseModel, model_validator
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.deps import SessionsDep
from api.export_pages import write_pages
from api.schemas import Strict
from domain.errors import ActionRefused, ExportNotFound, SecondPersonRequired
from domain.exports import MAX_SPAN, MEDIA_TYPE, ExportStatus, person_of
from domain.ids import ChannelName
from store.db import SessionFactory, transaction
from store.exports import ExportRepository
from store.models import Export, utcnow

router = APIRouter(prefix="/exports", tags=["exports"])

ExportId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
PageNumber = Annotated[int, Path(ge=1, le=1_000_000)]


class ExportIn(Strict):
    """Orders created in `[created_from, created_until)` (times with a zone; at most 366
    days), of one channel or of all."""

    created_from: AwareDatetime
    created_until: AwareDatetime
    channel: ChannelName | None = None

    @model_validator(mode="after")
    def _a_range_forward_and_bounded(self) -> ExportIn:
        try:
            start, end = self.created_from.astimezone(UTC), self.created_until.astimezone(UTC)
        except (OverflowError, ValueError) as error:
            raise ValueError("a time out of range") from error
        if not start < end:
            raise ValueError("created_from must be before created_until")
        if end - start > MAX_SPAN:
            raise ValueError(f"one export covers at most {MAX_SPAN.days} days")
        self.created_from, self.created_until = start, end
        return self


class ExportPagePublic(BaseModel):
    number: int
    rows: int
    sha256: str  # of the page's bytes, exactly as served
    href: str


class ExportPublic(BaseModel):
    id: str
    status: ExportStatus
    format: str = MEDIA_TYPE
    requested_by: str
    requested_at: datetime
    created_from: datetime
    created_until: datetime
    channel: str | None
    approved_by: str | None
    approved_at: datetime | None
    rows: int | None
    sha256: str | None  # of every page's bytes, concatenated in page order
    pages: list[ExportPagePublic]


@router.post("", response_model=ExportPublic, status_code=status.HTTP_201_CREATED)
async def request_export(
    body: ExportIn, response: Response, *, sessions: SessionsDep, caller: PrincipalDep
) -> ExportPublic:
    """Ask for an export. It stays `pending`, with no pages, until a different person holding
    admin approves it."""
    export = Export(
        id=f"exp_{secrets.token_hex(8)}",
        requested_by=caller.actor,
        requested_at=utcnow(),
        created_from=body.created_from,
        created_until=body.created_until,
        channel=body.channel,
        status=ExportStatus.PENDING.value,
    )

    def add() -> None:
        with transaction(sessions) as session:
            ExportRepository(session).add(export)

    await run_in_threadpool(add)
    response.headers["Location"] = f"/exports/{export.id}"
    return await run_in_threadpool(_view, sessions, export.id)


@router.get("/{export_id}", response_model=ExportPublic)
async def get_export(export_id: ExportId, *, sessions: SessionsDep) -> ExportPublic:
    """The export's status and, once approved, its pages with their SHA-256 checksums."""
    return await run_in_threadpool(_view, sessions, export_id)


@router.post("/{export_id}/approve", response_model=ExportPublic)
async def approve_export(
    export_id: ExportId, *, sessions: SessionsDep, caller: PrincipalDep
) -> ExportPublic:
    """Release an export: its pages are written now, from the orders as they are now, and
    never change. Whoever requested it can't approve it (`403 second_person_required`), under
    any role; one approved already is `409`."""

    def approve() -> None:
        with transaction(sessions) as session:
            exports = ExportRepository(session)
            export = exports.get(export_id)
            if export is None:
                raise ExportNotFound(f"no export {export_id}")
            if person_of(export.requested_by) == person_of(caller.actor):
                raise SecondPersonRequired(
                    f"export {export_id} was requested by {export.requested_by}: "
                    "a different person must approve it"
                )
            if export.status != ExportStatus.PENDING or not exports.claim_approval(
                export_id, by=caller.actor, at=utcnow()
            ):
                raise ActionRefused(f"export {export_id} is approved already")
            write_pages(exports, export)

    await run_in_threadpool(approve)
    return await run_in_threadpool(_view, sessions, export_id)


@router.get("/{export_id}/pages/{number}", response_class=Response)
async def export_page(
    export_id: ExportId, number: PageNumber, *, sessions: SessionsDep
) -> Response:
    """One page, as CSV. Its `ETag` and `Repr-Digest` carry its SHA-256, the same as the
    export lists. Before approval there are no pages (`409`)."""

    def read() -> tuple[bytes, str]:
        with transaction(sessions) as session:
            exports = ExportRepository(session)
            export = exports.get(export_id)
            if export is None:
                raise ExportNotFound(f"no export {export_id}")
            if export.status != ExportStatus.READY:
                raise ActionRefused(f"export {export_id} is not approved yet")
            page = exports.page(export_id, number)
            if page is None:
                raise ExportNotFound(f"export {export_id} has {export.page_count} pages")
            return page.body, page.sha256

    body, sha256 = await run_in_threadpool(read)
    digest = base64.b64encode(bytes.fromhex(sha256)).decode()
    return Response(
        content=body,
        media_type=MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{export_id}-page-{number}.csv"',
            "ETag": f'"{sha256}"',
            "Repr-Digest": f"sha-256=:{digest}:",
        },
    )


def _view(sessions: SessionFactory, export_id: str) -> ExportPublic:
    with transaction(sessions) as session:
        exports = ExportRepository(session)
        export = exports.get(export_id)
        if export is None:
            raise ExportNotFound(f"no export {export_id}")
        pages = exports.pages(export_id)
        return ExportPublic(
            id=export.id,
            status=ExportStatus(export.status),
            requested_by=export.requested_by,
            requested_at=export.requested_at,
            created_from=export.created_from,
            created_until=export.created_until,
            channel=export.channel,
            approved_by=export.approved_by,
            approved_at=export.approved_at,
            rows=export.row_count,
            sha256=export.sha256,
            pages=[
                ExportPagePublic(
                    number=page.number,
                    rows=page.rows,
                    sha256=page.sha256,
                    href=f"/exports/{export_id}/pages/{page.number}",
                )
                for page in pages
            ],
        )
