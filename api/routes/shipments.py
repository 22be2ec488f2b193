"""The shipment health board: parcels stuck in one stage for too long."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import SessionsDep
from api.schemas import StuckPackage
from store.db import transaction
from store.models import utcnow
from store.repositories import ShipmentRepository

router = APIRouter(prefix="/shipments", tags=["shipments"])


@router.get("/stuck", response_model=list[StuckPackage])
async def stuck_packages(
    *,
    sessions: SessionsDep,
    longer_than_minutes: Annotated[int, Query(ge=1, le=60 * 24 * 30)] = 120,
) -> list[StuckPackage]:
    """Every parcel not yet delivered whose last stage (label bought, pick started, packed,
    picked up, in transit, out for delivery, exception) is older than the threshold (2 h by
    default), longest stuck first."""

    def read() -> list[StuckPackage]:
        now = utcnow()
        with transaction(sessions) as session:
            rows = ShipmentRepository(session).stuck(
                now=now, longer_than=timedelta(minutes=longer_than_minutes)
            )
            return [
                StuckPackage(
                    shipment_id=shipment.id,
                    order_id=shipment.order_id,
                    package=shipment.package,
                    carrier=shipment.carrier,
                    tracking_number=shipment.tracking_number,
                    stage=stage,
                    since=since,
                    stuck_minutes=int((now - since).total_seconds() // 60),
                    link=f"/orders/{shipment.order_id}",
                )
                for shipment, stage, since in rows
            ]

    return await run_in_threadpool(read)
