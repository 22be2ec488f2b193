"""Carriers' tracking callbacks: verify the signature, find the parcel, tell the workflow
that follows it (its shipment's, or its order's for an order of one package).

Carriers repeat and reorder their reports; that workflow takes each stage once, so this route
only checks who is talking and which parcel they mean.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from api.deps import SessionsDep, SettingsDep, WorkflowsDep
from api.routes.webhooks import BadSignature
from api.schemas import Accepted
from api.webhook_recording import signature_checked
from domain.errors import InvalidRequest, UnknownCarrier
from domain.shipping import ParcelEvent, ParcelOnRecord
from integrations.carriers.sandbox import parse_tracking_event
from integrations.signing import SignatureRefused, check
from store.db import SessionFactory, transaction
from store.repositories import ShipmentRepository
from store.returns import ReturnRepository

router = APIRouter(prefix="/webhooks/carriers", tags=["webhooks"])

SIGNATURE_HEADER = "Carrier-Signature"
CARRIERS = ("sandbox",)


@router.post("/{carrier}", response_model=Accepted, status_code=200)
async def carrier_webhook(
    carrier: str,
    request: Request,
    *,
    sessions: SessionsDep,
    settings: SettingsDep,
    workflows: WorkflowsDep,
    signature: str | None = Header(None, alias=SIGNATURE_HEADER),
) -> Accepted:
    """A tracking report (`picked_up`, `in_transit`, `out_for_delivery`, `delivered`,
    `exception`, `returned`). A bad or missing signature (`bad_signature`), or a body that is
    no report or one dated ahead of our clock (`invalid_request`), is refused with 400 and
    changes nothing; a parcel we don't know, or one whose shipment has ended, is answered 200
    and ignored."""
    if carrier not in CARRIERS:
        raise UnknownCarrier(f"no carrier named {carrier}; known: {', '.join(CARRIERS)}")
    body = await request.body()
    if not signature:
        raise BadSignature(f"missing {SIGNATURE_HEADER} header")
    try:
        check(body, signature, settings.carrier_webhook_secret)
    except SignatureRefused as error:
        raise BadSignature(f"{SIGNATURE_HEADER} check failed: {error}") from error
    signature_checked(request)
    try:
        report = parse_tracking_event(body)
    except ValueError as error:
        raise InvalidRequest(f"not a tracking report: {error}") from error
    if report.tracking_number is None:
        raise InvalidRequest("not a tracking report: no tracking number")
    ahead = report.at - datetime.now(UTC)
    if ahead > timedelta(seconds=settings.carrier_report_max_ahead_seconds):
        raise InvalidRequest(f"not a tracking report: dated {ahead} ahead of our clock")
    parcel = await run_in_threadpool(_parcel_of, sessions, carrier, report.tracking_number)
    if parcel is None:
        # A return's parcel on its way back: noted on its RMA until the warehouse scans it.
        if rma := await run_in_threadpool(_track_return, sessions, carrier, report):
            return Accepted(detail=f"{rma}: {report.stage}")
        return Accepted(accepted=False, detail=f"no parcel {report.tracking_number} here")
    if parcel.ended or not await workflows.parcel_event(parcel, report):
        ended = f"package {parcel.package} of order {parcel.order_id} has ended its way"
        return Accepted(accepted=False, detail=f"{ended}; report ignored")
    return Accepted()


def _parcel_of(
    sessions: SessionFactory, carrier: str, tracking_number: str
) -> ParcelOnRecord | None:
    with transaction(sessions) as session:
        return ShipmentRepository(session).parcel_on_record(carrier, tracking_number)


def _track_return(sessions: SessionFactory, carrier: str, report: ParcelEvent) -> str | None:
    assert report.tracking_number is not None
    with transaction(sessions) as session:
        return ReturnRepository(session).track(
            carrier, report.tracking_number, f"the carrier reports it {report.stage}", report.at
        )
