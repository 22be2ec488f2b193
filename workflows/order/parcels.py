"""The parcels an order follows: a child ShipmentWorkflow for each package, or, for an order
of one package (most orders), the parcel's way run by the order itself.

Running it here saves a workflow per order: its start and close, its history and its workflow
tasks, and the signals between the two. The parcel's way is the same code either way
(``workflows/shipment``); only who hears its news and who takes its carrier's reports and
warehouse scans differ. The label's row says which workflow that is (``ParcelTracker``), and
the API sends each report and scan there.

An order that runs its parcel keeps tracking it only while it runs: an operator who
terminates the order stops its parcel's clocks too, where a child would travel on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

from domain.contract import (
    ParcelTracker,
    ShipmentSignal,
    WorkflowName,
    shipment_workflow_id,
)
from domain.errors import ScanRefused
from domain.failures import as_failure
from domain.shipping import (
    LabelView,
    ParcelEvent,
    ScanProgress,
    ShipmentInput,
    ShipmentProgress,
    ShipmentResult,
    WarehouseScan,
)
from domain.sla import SlaLevel
from domain.steps import Step
from workflows.order.state import OrderState
from workflows.shipment import journey, tracking, warehouse
from workflows.shipment.state import ShipmentState
from workflows.steps import UNTIL_DONE, Arg, Result


class Followed(Protocol):
    """A parcel on its way, as its order follows it."""

    async def result(self) -> ShipmentResult: ...

    async def cancel(self) -> None: ...

    async def report(self, event: ParcelEvent) -> None: ...


def runs_its_parcel(state: OrderState) -> bool:
    """An order of one package begun in the second shape or later (orders begun before it
    keep a child for every package)."""
    assert state.plan is not None
    return len(state.plan.packages) == 1 and state.shape >= 2


async def start(state: OrderState, shipment: ShipmentInput, *, own: bool) -> Followed:
    if own:
        parcel = ShipmentState.start(shipment, order=_ThisOrder(state))
        state.own_parcel = parcel
        return _OwnParcel(parcel, asyncio.create_task(journey.travel(parcel)))
    handle = await workflow.start_child_workflow(
        WorkflowName.SHIPMENT,
        shipment,
        id=shipment_workflow_id(shipment.order_id, shipment.package),
        task_queue=workflow.info().task_queue,
        # A parcel on its way stays tracked even if an operator ends the order.
        parent_close_policy=ParentClosePolicy.ABANDON,
        result_type=ShipmentResult,
    )
    return _ChildShipment(handle)


# --- what reaches the order for the parcel it runs ---------------------------------------------


def report(state: OrderState, event: ParcelEvent) -> None:
    if state.own_parcel is None:
        workflow.logger.warning("ignoring a report for a parcel this order does not run")
        return
    tracking.receive(state.own_parcel, event)


def refuse_wrong_scan(state: OrderState, scan: WarehouseScan) -> None:
    warehouse.refuse_wrong_scan(_scanned_parcel(state, scan), scan)


async def record_scan(state: OrderState, scan: WarehouseScan) -> ScanProgress:
    return await warehouse.record_scan(_scanned_parcel(state, scan), scan)


def relabelled(state: OrderState, package: int, label: LabelView) -> bool:
    """The parcel this order runs takes its new label; False if it runs no such parcel."""
    parcel = state.own_parcel
    if parcel is None or parcel.shipment.package != package:
        return False
    parcel.label = label
    return True


def _scanned_parcel(state: OrderState, scan: WarehouseScan) -> ShipmentState:
    parcel = state.own_parcel
    if parcel is None or parcel.shipment.package != scan.package or parcel.ended:
        raise as_failure(
            ScanRefused(f"no package {scan.package} of order {scan.order_id} is being shipped")
        )
    return parcel


# --- the two ways of following a parcel ----------------------------------------------------------


@dataclass(frozen=True)
class _ThisOrder:
    """The parcel's news, heard by the order that runs it: no signal, no workflow task."""

    state: OrderState
    tracker: ParcelTracker = ParcelTracker.ORDER

    async def step(
        self, activity: Step[Arg, Result], arg: Arg, retry: RetryPolicy = UNTIL_DONE
    ) -> Result:
        # The order's own gate: a label voided for a cancellation waits until the update
        # that asked for it is on record (``OrderState.step``).
        return await self.state.step(activity, arg, retry)

    @property
    def prepares_in_one_step(self) -> bool:
        return self.state.shape >= 3

    async def progress(self, progress: ShipmentProgress) -> None:
        self.state.parcel_progress(progress)

    async def sla_level(self, level: SlaLevel) -> None:
        self.state.raise_sla_level(level)


@dataclass(frozen=True)
class _OwnParcel:
    parcel: ShipmentState
    way: asyncio.Task[ShipmentResult]

    async def result(self) -> ShipmentResult:
        return await self.way

    async def cancel(self) -> None:
        self.parcel.cancel_requested = True

    async def report(self, event: ParcelEvent) -> None:
        tracking.receive(self.parcel, event)


@dataclass(frozen=True)
class _ChildShipment:
    handle: ChildWorkflowHandle[Any, ShipmentResult]

    async def result(self) -> ShipmentResult:
        return await self.handle

    async def cancel(self) -> None:
        await self._signal(ShipmentSignal.CANCEL)

    async def report(self, event: ParcelEvent) -> None:
        await self._signal(ShipmentSignal.CARRIER_EVENT, event)

    async def _signal(self, signal: ShipmentSignal, *args: ParcelEvent) -> None:
        try:
            await self.handle.signal(signal, *args)
        except FailureError:
            pass  # that shipment has ended
