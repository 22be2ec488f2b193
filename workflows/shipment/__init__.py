"""ShipmentWorkflow: one package of an order on its way, a child of the order's workflow.

``run`` is the parcel's way (``journey.py``), which an order with one package runs itself
instead; each part lives in a module of its own and works on the shipment's state
(``state.py``):

- ``preparation``: before the parcel leaves, its stock still reserved and a label bought;
- ``warehouse``: pick and pack by scanning;
- ``tracking``: the carrier's reports, each stage stamped once whatever order they come in
  or however often; the first means the carrier has the parcel (stock deducted, pickup
  stamped, in one transaction);
- ``cancellation``: the label voided while it still can be;
- ``clocks``: the ship-by deadline and the stage limits, each level raised once.
"""

from __future__ import annotations

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
from workflows.shipment import journey, tracking, warehouse
from workflows.shipment.state import ShipmentState


@workflow.defn(name=WorkflowName.SHIPMENT)
class ShipmentWorkflow:
    @workflow.init
    def __init__(self, shipment: ShipmentInput) -> None:
        self.state = ShipmentState.start(shipment)

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> ShipmentResult:
        return await journey.travel(self.state)

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
