"""The carrier's reports. Carriers repeat themselves and report out of order: an event ID or
a stage seen before changes nothing, and reports that arrived together are applied along the
road. The first report of any kind means the carrier has the parcel: the stock is deducted
and the pickup stamped in one transaction. A carrier exception puts the order on hold until
a later report shows the parcel moving again; an exception it already moved past is only put
on the record."""

from __future__ import annotations

from domain import steps
from domain.contract import ShipmentOutcome
from domain.errors import OutOfStock
from domain.shipping import (
    ROAD,
    ParcelEvent,
    ParcelTrouble,
    ShipmentResult,
    StageStamp,
    TrackingStage,
    progress_rank,
)
from workflows.shipment.state import ShipmentState


def receive(state: ShipmentState, event: ParcelEvent) -> None:
    """Keep a report for the parcel's loop, unless it is news of nothing."""
    if state.ended or event.event_id in state.seen or not is_news(state, event):
        return
    state.seen.add(event.event_id)
    state.pending.append(event)


async def apply_next(state: ShipmentState) -> ShipmentResult | None:
    """Apply the pending report furthest back along the road; the result once the parcel's
    way ended."""
    state.pending.sort(key=lambda event: (progress_rank(event.stage), event.at))
    return await apply(state, state.pending.pop(0))


async def apply(state: ShipmentState, event: ParcelEvent) -> ShipmentResult | None:
    if not is_news(state, event):
        return None
    if not state.handed_over:
        # Any report means the carrier has the parcel, even one that skipped the pickup.
        try:
            await state.step(steps.HAND_OVER, state.hand_over(event.at))
        except OutOfStock as error:
            return state.result(ShipmentOutcome.BLOCKED, error.message)
        state.handed_over = True
        state.stages[TrackingStage.PICKED_UP] = event.at
        await state.tell_order(TrackingStage.PICKED_UP, event.at)
    moving_again = _moves_again(state, event)
    exception = event.stage == TrackingStage.EXCEPTION
    fresh_trouble = exception and _fresh_trouble(state, event)
    if event.stage not in state.stages or moving_again or fresh_trouble:
        await state.step(
            steps.STAMP_STAGE,
            StageStamp(
                shipment_id=state.id,
                stage=event.stage,
                at=event.at,
                moving_again=moving_again,
                # An exception the parcel already moved past: on the record, nothing more.
                stale=exception and not fresh_trouble,
            ),
        )
        state.stages.setdefault(event.stage, event.at)
    if fresh_trouble:
        await _in_trouble(state, event)
    elif moving_again:
        state.trouble_since = None
        await state.tell_order(event.stage, event.at)
    if event.stage in ROAD:
        state.latest_road_at = max(event.at, state.latest_road_at or event.at)
    if event.stage == TrackingStage.DELIVERED:
        return state.result(ShipmentOutcome.DELIVERED, delivered_at=event.at)
    if event.stage == TrackingStage.RETURNED:
        return state.result(ShipmentOutcome.RETURNED, "the carrier returned the parcel")
    return None


def is_news(state: ShipmentState, event: ParcelEvent) -> bool:
    """A stage not reached before, a new exception after the parcel moved on from one, or
    a sign it moves again after an exception."""
    if event.stage not in state.stages:
        return True
    if event.stage == TrackingStage.EXCEPTION:
        return _fresh_trouble(state, event)
    return _moves_again(state, event)


def _fresh_trouble(state: ShipmentState, event: ParcelEvent) -> bool:
    """An exception newer than every report on the road: one the parcel has not already
    moved past (a delayed report of an old problem holds nothing)."""
    return state.trouble_since is None and (
        state.latest_road_at is None or event.at > state.latest_road_at
    )


def _moves_again(state: ShipmentState, event: ParcelEvent) -> bool:
    """After a carrier exception, a later report on the road, even of a stage the parcel
    had reached; a report older than the exception is news of nothing."""
    return (
        state.trouble_since is not None and event.stage in ROAD and event.at > state.trouble_since
    )


async def _in_trouble(state: ShipmentState, event: ParcelEvent) -> None:
    """A carrier exception: support is alerted and the order waits on hold."""
    state.trouble_since = event.at
    await state.step(
        steps.RAISE_PARCEL_EXCEPTION,
        ParcelTrouble(
            shipment_id=state.id,
            order_id=state.shipment.order_id,
            package=state.shipment.package,
            carrier=event.carrier,
            tracking_number=state.label.tracking_number if state.label else None,
            at=event.at,
        ),
    )
    await state.tell_order(TrackingStage.EXCEPTION, event.at)
