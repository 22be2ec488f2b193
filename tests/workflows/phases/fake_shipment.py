"""A stand-in for ShipmentWorkflow, in a module of its own: the workflow sandbox re-imports a
workflow's module for every run, so it imports nothing but the SDK and the domain."""

from __future__ import annotations

from temporalio import workflow

from domain.contract import ShipmentOutcome, ShipmentSignal, WorkflowName
from domain.shipping import ShipmentInput, ShipmentResult

# How a test tells the parcel's way how it ends.
END_SHIPMENT = "end_shipment"


@workflow.defn(name=WorkflowName.SHIPMENT)
class FakeShipment:
    """Stands in for ShipmentWorkflow: the parcel's way ends when the test says how, or when
    the order cancels it (the label voided before any pickup)."""

    def __init__(self) -> None:
        self.ending: ShipmentResult | None = None
        self.cancelled = False

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> ShipmentResult:
        await workflow.wait_condition(lambda: self.ending is not None or self.cancelled)
        if self.ending is not None:
            return self.ending
        return ShipmentResult(
            package=shipment.package,
            outcome=ShipmentOutcome.CANCELLED,
            reason="label voided before pickup",
        )

    @workflow.signal(name=END_SHIPMENT)
    def end(self, ending: ShipmentResult) -> None:
        self.ending = ending

    @workflow.signal(name=ShipmentSignal.CANCEL)
    def cancel(self) -> None:
        self.cancelled = True
