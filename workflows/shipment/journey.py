"""A parcel's way, from its label to its end: the loop a ShipmentWorkflow runs, and an order
runs itself for its only package.

It waits for the carrier's reports, a cancellation, or the next clock (the ship-by deadline
until the pickup, the limits of the stage the parcel is in) and acts on whichever comes first.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

from domain.shipping import ShipmentResult
from workflows.shipment import cancellation, clocks, preparation, tracking
from workflows.shipment.state import ShipmentState
from workflows.waiting import wait_until


async def travel(state: ShipmentState) -> ShipmentResult:
    result = await _until_the_end(state)
    state.ended = True
    return result


async def _until_the_end(state: ShipmentState) -> ShipmentResult:
    if (blocked := await preparation.prepare(state)) is not None:
        return blocked
    marks = list(state.shipment.sla_marks)
    while True:
        # Until the carrier has it, the ship-by deadline's marks wake this up too; so do the
        # limits of the stage the parcel is in, and the parcel entering another one.
        ship_by = marks[0] if marks and not state.handed_over else None
        late = clocks.stage_marks_due(state)
        due = min([m.at for m in late] + ([ship_by.at] if ship_by else []), default=None)
        if not await wait_until(_news_from_now(state), until=due):
            if ship_by is not None and ship_by.at <= workflow.now():
                await clocks.ship_by_late(state, marks.pop(0))
            for mark in late:
                # A scan during the awaits above may have ended the stage.
                if mark.at <= workflow.now() and state.stage() == (mark.stage, mark.since):
                    await clocks.stage_late(state, mark)
        elif (result := await _act_on_news(state)) is not None:
            return result


async def _act_on_news(state: ShipmentState) -> ShipmentResult | None:
    """A carrier's report or a cancellation; the result once the parcel's way ended."""
    if state.pending:
        # Reports first: a pickup reported before the cancellation means the carrier has
        # the parcel.
        return await tracking.apply_next(state)
    if state.cancel_requested:
        return await cancellation.cancel(state)
    return None  # the parcel entered another stage: the loop sets its clocks


def _news_from_now(state: ShipmentState) -> Callable[[], bool]:
    """What wakes the loop: a report, a cancellation, or the parcel entering a stage."""
    entered = state.stage()
    return lambda: bool(state.pending) or state.cancel_requested or state.stage() != entered
