"""What is known about a parcel while it travels, and how it tells its order.

One dataclass holds the shipment's state; every phase reads and changes it. The order hears
only what changes it (the first parcel leaving, a carrier exception, the parcel moving again,
an SLA level); every stage is in the database for the API. A ShipmentWorkflow tells its order
by signal; an order that runs its only parcel itself hears it directly (``OrderLink``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

from domain.contract import (
    OrderSignal,
    ParcelTracker,
    ShipmentOutcome,
    order_workflow_id,
    shipment_workflow_id,
)
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
from domain.steps import Step
from workflows.steps import UNTIL_DONE, Arg, Result, step


class OrderLink(Protocol):
    """The parcel's order, as its way sees it: which workflow follows the parcel, how a step
    is taken, and what the order is told."""

    @property
    def tracker(self) -> ParcelTracker: ...

    @property
    def prepares_in_one_step(self) -> bool: ...

    async def step(
        self, activity: Step[Arg, Result], arg: Arg, retry: RetryPolicy = UNTIL_DONE
    ) -> Result: ...

    async def progress(self, progress: ShipmentProgress) -> None: ...

    async def sla_level(self, level: SlaLevel) -> None: ...


@dataclass(frozen=True)
class SignalledOrder:
    """The order of a ShipmentWorkflow: another workflow, told by signal."""

    order_id: str
    tracker: ParcelTracker = ParcelTracker.SHIPMENT

    @property
    def prepares_in_one_step(self) -> bool:
        return False  # a change to a shipment's steps would need a gate of its own

    async def step(
        self, activity: Step[Arg, Result], arg: Arg, retry: RetryPolicy = UNTIL_DONE
    ) -> Result:
        return await step(activity, arg, retry=retry)

    async def progress(self, progress: ShipmentProgress) -> None:
        await self._signal(OrderSignal.SHIPMENT_PROGRESS, progress)

    async def sla_level(self, level: SlaLevel) -> None:
        await self._signal(OrderSignal.SLA_LEVEL, level)

    async def _signal(self, signal: OrderSignal, arg: ShipmentProgress | SlaLevel) -> None:
        order = workflow.get_external_workflow_handle(order_workflow_id(self.order_id))
        try:
            await order.signal(signal, arg)
        except FailureError:
            pass  # the order has ended: an exchange's replacement travels after it


@dataclass
class ShipmentState:
    shipment: ShipmentInput
    id: str
    ready_at: datetime  # the pick stage's start
    expected: dict[str, int]  # units of each SKU the package holds
    order: OrderLink
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

    ended: bool = False  # its way is over: reports are news of nothing

    @classmethod
    def start(cls, shipment: ShipmentInput, order: OrderLink | None = None) -> ShipmentState:
        return cls(
            shipment=shipment,
            id=shipment_workflow_id(shipment.order_id, shipment.package),
            ready_at=shipment.ready_at,
            expected={line.sku: line.quantity for line in shipment.lines},
            order=order or SignalledOrder(shipment.order_id),
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

    async def step(
        self, activity: Step[Arg, Result], arg: Arg, retry: RetryPolicy = UNTIL_DONE
    ) -> Result:
        """One step of the parcel's way, taken as its order takes steps."""
        return await self.order.step(activity, arg, retry)

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
        await self.order.progress(
            ShipmentProgress(
                package=self.shipment.package,
                stage=stage,
                at=at,
                carrier=self.label.carrier if self.label else self.shipment.carrier,
                tracking_number=self.label.tracking_number if self.label else None,
            )
        )
