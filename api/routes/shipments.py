"""The shipment health board: parcels stuck in one stage for too long, and the limits each
stage of a parcel's way is held to."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import RulesDep, SessionsDep
from api.schemas import StageHistory, StageLimitPublic, StuckPackage
from domain.sla import RESPONSIBLE, effective_limits
from store.db import transaction
from store.models import utcnow
from store.repositories import ShipmentRepository, SlaStatisticsRepository

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


@router.get("/stage-limits", response_model=list[StageLimitPublic])
async def stage_limits(*, sessions: SessionsDep, rules: RulesDep) -> list[StageLimitPublic]:
    """Per stage: the merchant's yellow and red limits, what recent parcels took (recomputed
    by the ``sla-statistics`` schedule) and the limits a shipment starting now will use."""

    def read() -> list[StageLimitPublic]:
        with transaction(sessions) as session:
            learned = SlaStatisticsRepository(session).all()
        history = {s.stage: s for s in learned}
        limits = effective_limits(rules.sla, learned)
        return [
            StageLimitPublic(
                stage=stage.value,
                responsible=RESPONSIBLE[stage],
                configured_yellow_seconds=configured.yellow.total_seconds(),
                configured_red_seconds=configured.red.total_seconds(),
                history=(
                    StageHistory(
                        samples=found.samples,
                        mean_seconds=found.mean.total_seconds(),
                        stddev_seconds=found.stddev.total_seconds(),
                        computed_at=found.computed_at,
                    )
                    if (found := history.get(stage))
                    else None
                ),
                yellow_seconds=limits[stage].yellow.total_seconds(),
                red_seconds=limits[stage].red.total_seconds(),
                source=limits[stage].source,
            )
            for stage, configured in rules.sla.stages.items()
        ]

    return await run_in_threadpool(read)
