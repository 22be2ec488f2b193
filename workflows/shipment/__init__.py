"""ShipmentWorkflow: one package of an order on its way, a child of the order's workflow.

``run`` reads as the parcel's way; each part lives in a module of its own and works on the
shipment's state (``state.py``):

- ``preparation``: before the parcel leaves, its stock still reserved and a label bought;
- ``warehouse``: pick and pack by scanning;
- ``tracking``: the carrier's reports, each stage stamped once whatever order they come in
  or however often; the first means the carrier has the parcel (stock deducted, pickup
  stamped, in one transaction);
- ``cancellation``: the label voided while it still can be;
- ``clocks``: the ship-by deadline and the stage limits, each level raised once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

from domain.contract import ShipmentQuery, ShipmentSignal, ShipmentUpdate, WorkflowName
from domain.shipping import (
    LabelView,
    ParcelEvent,
    ScanProgress,
    ShipmentInput,
    ShipmentResult,
    TrackingStage,
    WarehouseScan,
)
from workflows.shipment import cancellation, clocks, preparation, tracking, warehouse
from workflows.shipment.state import ShipmentState
from workflows.waiting import wait_until


@workflow.defn(name=WorkflowName.SHIPMENT)
class ShipmentWorkflow:
    @workflow.init
    def __init__(self, shipment: ShipmentInput) -> None:
        self.state = ShipmentState.start(shipment)

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> ShipmentResult:
        state = self.state
        if (blocked := await preparation.prepare(state)) is not None:
            return blocked
        marks = list(shipment.sla_marks)
        while True:
            # Until the carrier has it, the ship-by deadline's marks wake this up too; so do
            # the limits of the stage the parcel is in, and the parcel entering another one.
            ship_by = marks[0] if marks and not state.handed_over else None
            late = clocks.stage_marks_due(state)
            due = min([m.at for m in late] + ([ship_by.at] if ship_by else []), default=None)
            if not await wait_until(self._news_from_now(), until=due):
                if ship_by is not None and ship_by.at <= workflow.now():
                    await clocks.ship_by_late(state, marks.pop(0))
                for mark in late:
                    # A scan during the awaits above may have ended the stage.
                    if mark.at <= workflow.now() and state.stage() == (mark.stage, mark.since):
                        await clocks.stage_late(state, mark)
            elif (result := await self._act_on_news()) is not None:
                return result

    async def _act_on_news(self) -> ShipmentResult | None:
        """A carrier's report or a cancellation; the result once the parcel's way ended."""
        if self.state.pending:
            # Reports first: a pickup reported before the cancellation means the carrier
            # has the parcel.
            return await tracking.apply_next(self.state)
        if self.state.cancel_requested:
            return await cancellation.cancel(self.state)
        return None  # the parcel entered another stage: the loop sets its clocks

    def _news_from_now(self) -> Callable[[], bool]:
        """What wakes the loop: a report, a cancellation, or the parcel entering a stage."""
        state = self.state
        entered = state.stage()
        return lambda: bool(state.pending) or state.cancel_requested or state.stage() != entered

    @workflow.signal(name=ShipmentSignal.CARRIER_EVENT)
    def carrier_event(self, event: ParcelEvent) -> None:
        tracking.receive(self.state, event)

    @workflow.update(name=ShipmentUpdate.WAREHOUSE_SCAN)
    async def warehouse_scan(self, scan: WarehouseScan) -> ScanProgress:
        return await warehouse.record_scan(self.state, scan)

    @warehouse_scan.validator
    def _refuse_wrong_scan(self, scan: WarehouseScan) -> None:
        warehouse.refuse_wrong_scan(self.state, scan)

    @workflow.signal(name=ShipmentSignal.LABEL_CHANGED)
    def label_changed(self, label: LabelView) -> None:
        """The order sent the parcel to a new address under a new label (voiding this one)."""
        self.state.label = label

    @workflow.signal(name=ShipmentSignal.CANCEL)
    def cancel(self) -> None:
        self.state.cancel_requested = True

    @workflow.query(name=ShipmentQuery.STAGES_REACHED)
    def stages_reached(self) -> dict[TrackingStage, datetime]:
        return dict(self.state.stages)
