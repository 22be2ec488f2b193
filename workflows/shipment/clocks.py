"""The clocks a parcel runs against: the channel's ship-by deadline until the pickup, and a
yellow and a red limit for the stage the parcel is in (pick, pack, handover, transit). Each
level is raised once: an alert, and the order's ``SlaLevel``."""

from __future__ import annotations

from domain import steps
from domain.shipping import SlaBreach, StageBreach
from domain.sla import SlaMark, StageMark, stage_marks
from workflows.shipment.state import ShipmentState


def stage_marks_due(state: ShipmentState) -> list[StageMark]:
    """The current stage's yellow and red moments not yet raised."""
    current = state.stage()
    if current is None or current[0] not in state.limits:
        return []
    stage, since = current
    marks = stage_marks(stage, since, state.limits[stage])
    return [mark for mark in marks if (stage, mark.level) not in state.raised]


async def stage_late(state: ShipmentState, mark: StageMark) -> None:
    state.raised.add((mark.stage, mark.level))
    await state.step(
        steps.RAISE_STAGE_ALERT,
        StageBreach(
            shipment_id=state.id,
            order_id=state.shipment.order_id,
            package=state.shipment.package,
            stage=mark.stage,
            level=mark.level,
            since=mark.since,
            limit=state.limits[mark.stage],
        ),
    )
    await state.order.sla_level(mark.level)


async def ship_by_late(state: ShipmentState, mark: SlaMark) -> None:
    """Yellow, then red: an alert for the warehouse and the order's ``SlaLevel``."""
    await state.step(
        steps.RAISE_SLA_ALERT,
        SlaBreach(
            shipment_id=state.id,
            order_id=state.shipment.order_id,
            package=state.shipment.package,
            level=mark.level,
            deadline=mark.deadline,
        ),
    )
    await state.order.sla_level(mark.level)
