"""ShipmentWorkflow: one package of an order on its way, a child of the order's workflow.

Before the parcel leaves it checks that the package's stock is still reserved and buys the
label. The carrier's first report means the carrier has the parcel: the stock is deducted and
the pickup stamped in one transaction. Every later stage is stamped once, whatever order the
reports come in or however often. A cancelled shipment voids its label while it still can.

All along it keeps the clocks: the channel's ship-by deadline until the pickup, and a yellow
and a red limit for the stage the parcel is in (pick, pack, handover, transit). A carrier
exception puts the order on hold until the parcel moves again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError, FailureError

from domain import steps
from domain.contract import (
    OrderSignal,
    ShipmentOutcome,
    ShipmentQuery,
    ShipmentSignal,
    ShipmentUpdate,
    WorkflowName,
    order_workflow_id,
    shipment_workflow_id,
)
from domain.errors import OutOfStock, ScanRefused, UnknownCarrier
from domain.failures import as_failure
from domain.shipping import (
    ROAD,
    HandOver,
    LabelRequest,
    LabelView,
    ParcelEvent,
    ParcelTrouble,
    ScanProgress,
    ShipmentInput,
    ShipmentProgress,
    ShipmentResult,
    SlaBreach,
    StageBreach,
    StageLimits,
    StageStamp,
    TrackingStage,
    WarehouseScan,
    WarehouseStamp,
    progress_rank,
)
from domain.sla import EffectiveLimit, SlaLevel, SlaMark, Stage, StageMark, stage_marks
from workflows.steps import A_FEW_TRIES, step
from workflows.waiting import wait_until


@workflow.defn(name=WorkflowName.SHIPMENT)
class ShipmentWorkflow:
    @workflow.init
    def __init__(self, shipment: ShipmentInput) -> None:
        self.shipment = shipment
        self.id = shipment_workflow_id(shipment.order_id, shipment.package)
        self.label: LabelView | None = None
        self.stages: dict[TrackingStage, datetime] = {}
        self.seen: set[str] = set()
        self.pending: list[ParcelEvent] = []
        self.handed_over = False
        self.cancel_requested = False
        self.expected = {line.sku: line.quantity for line in shipment.lines}
        self.scanned: dict[str, int] = {}
        self.ready_at = shipment.ready_at  # the pick stage's start
        self.pick_started_at: datetime | None = None
        self.packed_at: datetime | None = None
        self.limits: dict[Stage, EffectiveLimit] = {}
        self.raised: set[tuple[Stage, SlaLevel]] = set()
        self.trouble_since: datetime | None = None  # the carrier's exception, until it moves
        self.latest_road_at: datetime | None = None  # the newest report on the normal road

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> ShipmentResult:
        if (blocked := await self._prepare()) is not None:
            return blocked
        marks = list(shipment.sla_marks)
        while True:
            # Until the carrier has it, the ship-by deadline's marks wake this up too; so do
            # the limits of the stage the parcel is in, and the parcel entering another one.
            ship_by = marks[0] if marks and not self.handed_over else None
            late = self._stage_marks()
            due = min([m.at for m in late] + ([ship_by.at] if ship_by else []), default=None)
            if not await wait_until(self._news_from_now(), until=due):
                if ship_by is not None and ship_by.at <= workflow.now():
                    await self._breach(marks.pop(0))
                for mark in late:
                    # A scan during the awaits above may have ended the stage.
                    if mark.at <= workflow.now() and self._stage() == (mark.stage, mark.since):
                        await self._stage_breach(mark)
            elif (result := await self._act_on_news()) is not None:
                return result

    async def _prepare(self) -> ShipmentResult | None:
        """Before the parcel can leave: its stock still reserved, a label, the stage limits.
        The result when it can't leave."""
        if not await step(steps.CHECK_PACKAGE_STOCK, self._hand_over()):
            return self._result(
                ShipmentOutcome.BLOCKED, "the package's stock is no longer reserved for it"
            )
        try:
            self.label = await step(steps.BUY_LABEL, self._label_request())
        except UnknownCarrier as error:  # a configuration error: no retry can fix it
            return self._result(ShipmentOutcome.BLOCKED, error.message)
        watched: StageLimits = await step(steps.STAGE_LIMITS, self.shipment.sla)
        self.limits = watched.limits
        return None

    async def _act_on_news(self) -> ShipmentResult | None:
        """A carrier's report or a cancellation; the result once the parcel's way ended."""
        if self.pending:
            # Reports first: a pickup reported before the cancellation means the carrier
            # has the parcel. Reports that arrived together are applied along the road.
            self.pending.sort(key=lambda event: (progress_rank(event.stage), event.at))
            return await self._apply(self.pending.pop(0))
        if self.cancel_requested and not self.handed_over:
            if await step(steps.VOID_LABEL, self._hand_over()):
                return self._result(ShipmentOutcome.CANCELLED, "label voided before pickup")
            # The carrier has it: it travels on. Its report is still on the way: ask the
            # carrier now, so the order (and whoever asked to cancel) learns of the pickup
            # without waiting for it.
            self.cancel_requested = False
            for event in await self._ask_carrier():
                self.carrier_event(event)
            return None
        self.cancel_requested = False  # too late: already handed over
        return None

    async def _apply(self, event: ParcelEvent) -> ShipmentResult | None:
        if not self._is_news(event):
            return None
        if not self.handed_over:
            # Any report means the carrier has the parcel, even one that skipped the pickup.
            try:
                await step(steps.HAND_OVER, self._hand_over(event.at))
            except OutOfStock as error:
                return self._result(ShipmentOutcome.BLOCKED, error.message)
            self.handed_over = True
            self.stages[TrackingStage.PICKED_UP] = event.at
            await self._tell_order(TrackingStage.PICKED_UP, event.at)
        moving_again = self._moves_again(event)
        exception = event.stage == TrackingStage.EXCEPTION
        fresh_trouble = exception and self._fresh_trouble(event)
        if event.stage not in self.stages or moving_again or fresh_trouble:
            await step(
                steps.STAMP_STAGE,
                StageStamp(
                    shipment_id=self.id,
                    stage=event.stage,
                    at=event.at,
                    moving_again=moving_again,
                    # An exception the parcel already moved past: on the record, nothing more.
                    stale=exception and not fresh_trouble,
                ),
            )
            self.stages.setdefault(event.stage, event.at)
        if fresh_trouble:
            await self._in_trouble(event)
        elif moving_again:
            self.trouble_since = None
            await self._tell_order(event.stage, event.at)
        if event.stage in ROAD:
            self.latest_road_at = max(event.at, self.latest_road_at or event.at)
        if event.stage == TrackingStage.DELIVERED:
            return self._result(ShipmentOutcome.DELIVERED, delivered_at=event.at)
        if event.stage == TrackingStage.RETURNED:
            return self._result(ShipmentOutcome.RETURNED, "the carrier returned the parcel")
        return None

    def _is_news(self, event: ParcelEvent) -> bool:
        """A stage not reached before, a new exception after the parcel moved on from one, or
        a sign it moves again after an exception."""
        if event.stage not in self.stages:
            return True
        if event.stage == TrackingStage.EXCEPTION:
            return self._fresh_trouble(event)
        return self._moves_again(event)

    def _fresh_trouble(self, event: ParcelEvent) -> bool:
        """An exception newer than every report on the road: one the parcel has not already
        moved past (a delayed report of an old problem holds nothing)."""
        return self.trouble_since is None and (
            self.latest_road_at is None or event.at > self.latest_road_at
        )

    def _moves_again(self, event: ParcelEvent) -> bool:
        """After a carrier exception, a later report on the road, even of a stage the parcel
        had reached; a report older than the exception is news of nothing."""
        return (
            self.trouble_since is not None and event.stage in ROAD and event.at > self.trouble_since
        )

    @workflow.signal(name=ShipmentSignal.CARRIER_EVENT)
    def carrier_event(self, event: ParcelEvent) -> None:
        """Carriers repeat themselves: an event ID or a stage seen before changes nothing."""
        if event.event_id in self.seen or not self._is_news(event):
            return
        self.seen.add(event.event_id)
        self.pending.append(event)

    @workflow.update(name=ShipmentUpdate.WAREHOUSE_SCAN)
    async def warehouse_scan(self, scan: WarehouseScan) -> ScanProgress:
        """Pick and pack by scanning: each unit checked against the package. The first scan
        stamps the pick's start, the last one the packing."""
        self._refuse_wrong_scan(scan)  # again: two scans may have passed the validator together
        first = not self.scanned
        self.scanned[scan.sku] = self.scanned.get(scan.sku, 0) + scan.quantity
        packed = self.scanned == self.expected
        if first:
            self.pick_started_at = workflow.now()
            await self._stamp_warehouse("pick_started")
        if packed:
            self.packed_at = workflow.now()
            await self._stamp_warehouse("packed")
        return ScanProgress(
            shipment_id=self.id, expected=self.expected, scanned=self.scanned, packed=packed
        )

    @warehouse_scan.validator
    def _refuse_wrong_scan(self, scan: WarehouseScan) -> None:
        package = f"package {self.shipment.package} of order {self.shipment.order_id}"
        if self.handed_over:
            raise _scan_refused(f"{package} is already with the carrier")
        wanted = self.expected.get(scan.sku)
        if wanted is None:
            holds = ", ".join(f"{q} × {sku}" for sku, q in sorted(self.expected.items()))
            raise _scan_refused(f"{scan.sku} does not belong in {package}; it holds {holds}")
        done = self.scanned.get(scan.sku, 0)
        if done + scan.quantity > wanted:
            raise _scan_refused(
                f"{package} takes {wanted} × {scan.sku}; {done} already scanned, "
                f"{scan.quantity} more is too many"
            )

    @workflow.signal(name=ShipmentSignal.LABEL_CHANGED)
    def label_changed(self, label: LabelView) -> None:
        """The order sent the parcel to a new address under a new label (voiding this one)."""
        self.label = label

    @workflow.signal(name=ShipmentSignal.CANCEL)
    def cancel(self) -> None:
        self.cancel_requested = True

    @workflow.query(name=ShipmentQuery.STAGES_REACHED)
    def stages_reached(self) -> dict[TrackingStage, datetime]:
        return dict(self.stages)

    def _news_from_now(self) -> Callable[[], bool]:
        """What wakes the loop: a report, a cancellation, or the parcel entering a stage."""
        entered = self._stage()
        return lambda: bool(self.pending) or self.cancel_requested or self._stage() != entered

    def _stage(self) -> tuple[Stage, datetime] | None:
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

    def _stage_marks(self) -> list[StageMark]:
        """The current stage's yellow and red moments not yet raised."""
        current = self._stage()
        if current is None or current[0] not in self.limits:
            return []
        stage, since = current
        marks = stage_marks(stage, since, self.limits[stage])
        return [mark for mark in marks if (stage, mark.level) not in self.raised]

    async def _stage_breach(self, mark: StageMark) -> None:
        self.raised.add((mark.stage, mark.level))
        await step(
            steps.RAISE_STAGE_ALERT,
            StageBreach(
                shipment_id=self.id,
                order_id=self.shipment.order_id,
                package=self.shipment.package,
                stage=mark.stage,
                level=mark.level,
                since=mark.since,
                limit=self.limits[mark.stage],
            ),
        )
        await self._signal_order(OrderSignal.SLA_LEVEL, mark.level)

    async def _in_trouble(self, event: ParcelEvent) -> None:
        """A carrier exception: support is alerted and the order waits on hold."""
        self.trouble_since = event.at
        await step(
            steps.RAISE_PARCEL_EXCEPTION,
            ParcelTrouble(
                shipment_id=self.id,
                order_id=self.shipment.order_id,
                package=self.shipment.package,
                carrier=event.carrier,
                tracking_number=self.label.tracking_number if self.label else None,
                at=event.at,
            ),
        )
        await self._tell_order(TrackingStage.EXCEPTION, event.at)

    async def _breach(self, mark: SlaMark) -> None:
        """Yellow, then red: an alert for the warehouse and the order's ``SlaLevel``."""
        await step(
            steps.RAISE_SLA_ALERT,
            SlaBreach(
                shipment_id=self.id,
                order_id=self.shipment.order_id,
                package=self.shipment.package,
                level=mark.level,
                deadline=mark.deadline,
            ),
        )
        await self._signal_order(OrderSignal.SLA_LEVEL, mark.level)

    def _order(self) -> workflow.ExternalWorkflowHandle[Any]:
        return workflow.get_external_workflow_handle(order_workflow_id(self.shipment.order_id))

    async def _tell_order(self, stage: TrackingStage, at: datetime) -> None:
        """Only what changes the order: its first parcel leaving, a carrier exception and the
        parcel moving again after one. Every stage is in the database for the API; the
        delivery reaches the order as this workflow's result."""
        await self._signal_order(
            OrderSignal.SHIPMENT_PROGRESS,
            ShipmentProgress(
                package=self.shipment.package,
                stage=stage,
                at=at,
                carrier=self.label.carrier if self.label else self.shipment.carrier,
                tracking_number=self.label.tracking_number if self.label else None,
            ),
        )

    async def _signal_order(self, signal: OrderSignal, arg: Any) -> None:
        try:
            await self._order().signal(signal, arg)
        except FailureError:
            pass  # the order has ended: an exchange's replacement travels after it

    async def _stamp_warehouse(self, moment: Literal["pick_started", "packed"]) -> None:
        await step(
            steps.STAMP_WAREHOUSE,
            WarehouseStamp(shipment_id=self.id, step=moment, at=workflow.now()),
        )

    def _hand_over(self, at: datetime | None = None) -> HandOver:
        return HandOver(
            shipment_id=self.id,
            order_id=self.shipment.order_id,
            package=self.shipment.package,
            at=at or workflow.now(),
        )

    def _result(
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

    async def _ask_carrier(self) -> list[ParcelEvent]:
        """The carrier's tracking, or nothing when it can't tell us now: its webhook will."""
        try:
            return await step(steps.CARRIER_TRACKING, self._hand_over(), retry=A_FEW_TRIES)
        except ActivityError as error:
            if isinstance(error.cause, CancelledError):
                raise
            return []

    def _label_request(self) -> LabelRequest:
        shipment = self.shipment
        return LabelRequest(
            shipment_id=self.id,
            order_id=shipment.order_id,
            package=shipment.package,
            warehouse=shipment.warehouse,
            weight_grams=shipment.weight_grams,
            insured_value=shipment.insured_value,
            carrier=shipment.carrier,
            transaction_id=shipment.transaction_id,
            ready_at=shipment.ready_at,
        )


def _scan_refused(message: str) -> Exception:
    return as_failure(ScanRefused(message))
