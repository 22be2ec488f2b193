"""What a parcel's workflow knows about it while it travels, and how it tells its order.

One dataclass holds the shipment's state; every phase reads and changes it. The order hears
only what changes it (the first parcel leaving, a carrier exception, the parcel moving again,
an SLA level); every stage is in the database for the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import FailureError

from domain.contract import OrderSignal, ShipmentOutcome, order_workflow_id, shipment_workflow_id
from domain.shipping import (
    HandOver,
    LabelView,
    ParcelEvent,
    ShipmentInput,
    ShipmentProgress,
    ShipmentResult,
    TrackingStage,
)
from domain.sla import EffectiveLimit, SlaLevel, Stage


@dataclass
class ShipmentState:
    shipment: ShipmentInput
    id: str
    ready_at: datetime  # the pick stage's start
    expected: dict[str, int]  # units of each SKU the package holds
    label: LabelView | None = None
    stages: dict[TrackingStage, datetime] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # the carrier's event IDs
    pending: list[ParcelEvent] = field(default_factory=list)
    handed_over: bool = False
    cancel_requested: bool = False
    scanned: dict[str, int] = field(default_factory=dict)
    pick_started_at: datetime | None = None
    packed_at: datetime | None = None
    limits: dict[Stage, EffectiveLimit] = field(default_factory=dict)
    raised: set[tuple[Stage, SlaLevel]] = field(default_factory=set)
    trouble_since: datetime | None = None  # the carrier's exception, until it moves
    latest_road_at: datetime | None = None  # the newest report on the normal road

    @classmethod
    def start(cls, shipment: ShipmentInput) -> ShipmentState:
        return cls(
            shipment=shipment,
            id=shipment_workflow_id(shipment.order_id, shipment.package),
            ready_at=shipment.ready_at,
            expected={line.sku: line.quantity for line in shipment.lines},
        )

    def stage(self) -> tuple[Stage, datetime] | None:
        """The stretch of its way the parcel is in, and since when; None when no stage is
        watched or the parcel's way has ended."""
        if not self.limits:
            return None
        if self.handed_over:
            if TrackingStage.DELIVERED in self.stages or TrackingStage.RETURNED in self.stages:
                return None
            return Stage.TRANSIT, self.stages[TrackingStage.PICKED_UP]
        if self.packed_at is not None:
            return Stage.HANDOVER, self.packed_at
        if self.pick_started_at is not None:
            return Stage.PACK, self.pick_started_at
        return Stage.PICK, self.ready_at

    def hand_over(self, at: datetime | None = None) -> HandOver:
        return HandOver(
            shipment_id=self.id,
            order_id=self.shipment.order_id,
            package=self.shipment.package,
            at=at or workflow.now(),
        )

    def result(
        self,
        outcome: ShipmentOutcome,
        reason: str | None = None,
        delivered_at: datetime | None = None,
    ) -> ShipmentResult:
        return ShipmentResult(
            package=self.shipment.package,
            outcome=outcome,
            reason=reason,
            delivered_at=delivered_at,
            packed_at=self.packed_at,
            picked_up_at=self.stages.get(TrackingStage.PICKED_UP),
        )

    async def tell_order(self, stage: TrackingStage, at: datetime) -> None:
        """Only what changes the order: its first parcel leaving, a carrier exception and the
        parcel moving again after one. The delivery reaches the order as the result."""
        await self.signal_order(
            OrderSignal.SHIPMENT_PROGRESS,
            ShipmentProgress(
                package=self.shipment.package,
                stage=stage,
                at=at,
                carrier=self.label.carrier if self.label else self.shipment.carrier,
                tracking_number=self.label.tracking_number if self.label else None,
            ),
        )

    async def signal_order(self, signal: OrderSignal, arg: Any) -> None:
        order = workflow.get_external_workflow_handle(order_workflow_id(self.shipment.order_id))
        try:
            await order.signal(signal, arg)
        except FailureError:
            pass  # the order has ended: an exchange's replacement travels after it
