"""What an order knows about itself while it runs, and how it writes its timeline.

One dataclass holds the order's state; every phase reads and changes it, and nothing else
does. Each state change is stamped with workflow time, written to the order's timeline in the
database (the read model the API lists from) and mirrored to the ``OrderStatus`` search
attribute for operators.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from domain import steps
from domain.contract import ORDER_STATUS, SLA_LEVEL, ShipmentOutcome
from domain.messages import (
    CancelRequest,
    CarrierEvent,
    ConfirmReceipt,
    OrderSnapshot,
    OrderWorkflowInput,
    PaymentCheck,
    PaymentView,
    TimelineEntry,
    TransitionRecord,
)
from domain.order import RECEIVED_NOTE, OrderStatus, check_transition
from domain.refunds import RefundOutcome
from domain.shipping import ShipmentProgress, TrackingStage
from domain.sla import SlaLevel
from domain.splitting import SplitPlan
from domain.steps import Step
from workflows.shipment.state import ShipmentState
from workflows.steps import UNTIL_DONE, step

Arg = TypeVar("Arg")
Result = TypeVar("Result")

SLA_SEVERITY = (SlaLevel.OK, SlaLevel.YELLOW, SlaLevel.RED)

# The order's shapes, each a gate asked before the first step, where every change of its release
# can read it (docs/operations.md); orders begun before a gate replay as they ran.
# 2 (2026-12-01): an order of one package runs its parcel's way itself.
ORDER_SHAPE_2 = "order-shape-2"
# 3 (2026-12-01, the next release): a paid order whose stock was held records the payment with
# its packages, and the parcel an order runs is prepared in one step.
ORDER_SHAPE_3 = "order-shape-3"
# 4 (2026-12-01, the release after): the confirmation window's reminders are scheduled when it
# opens and go out from the notification outbox; the order keeps only the window's end as a
# timer.
ORDER_SHAPE_4 = "order-shape-4"
# 5 (2026-12-01, the release after): the order's stock is planned and reserved in one step,
# which keeps the plan it reserved.
ORDER_SHAPE_5 = "order-shape-5"


def begun_in_shape() -> int:
    """The shape this order was begun in. Each shape keeps the changes of the ones before it,
    so a new order asks only the newest gate and pays for one marker."""
    if workflow.patched(ORDER_SHAPE_5):
        return 5
    if workflow.patched(ORDER_SHAPE_4):
        return 4
    if workflow.patched(ORDER_SHAPE_3):
        return 3
    return 2 if workflow.patched(ORDER_SHAPE_2) else 1


class Parcel(StrEnum):
    """Where a package is, as far as its order knows."""

    AT_WAREHOUSE = "at_warehouse"
    WITH_CARRIER = "with_carrier"
    DELIVERED = "delivered"
    RETURNED = "returned"
    VOIDED = "voided"  # its label voided before pickup: it never leaves
    BLOCKED = "blocked"  # its stock was gone: it never leaves


ENDED_AS: Mapping[ShipmentOutcome, Parcel] = MappingProxyType(
    {
        ShipmentOutcome.DELIVERED: Parcel.DELIVERED,
        ShipmentOutcome.RETURNED: Parcel.RETURNED,
        ShipmentOutcome.CANCELLED: Parcel.VOIDED,
        ShipmentOutcome.BLOCKED: Parcel.BLOCKED,
    }
)


@dataclass
class OrderState:
    order: OrderWorkflowInput
    shape: int = 1  # the shape it was begun in (``begun_in_shape``)
    status: OrderStatus = OrderStatus.PENDING_PAYMENT
    timeline: list[TimelineEntry] = field(default_factory=list)
    # Set once the order is accepted (stock reserved, or not needed yet): what to pay.
    payment: PaymentView | None = None
    captured: PaymentCheck | None = None  # what the provider says was paid
    payment_notices: int = 0  # provider callbacks since the provider was last asked
    cancel_request: CancelRequest | None = None
    stock_arrived: bool = False  # a receipt since the backorder last looked
    receipt: ConfirmReceipt | None = None
    confirm_by: datetime | None = None
    hold_reason: str | None = None
    end_reason: str | None = None  # the business error that ended the order, if one did
    plan: SplitPlan | None = None  # the packages, while their stock is reserved
    reservations: int = 0  # reservation rounds so far
    reserved_until: datetime | None = None  # a pre-reservation's end
    parcels: dict[int, Parcel] = field(default_factory=dict)
    first_pickup: ShipmentProgress | None = None
    troubles: dict[int, ShipmentProgress] = field(default_factory=dict)  # carrier exceptions
    manual_reports: list[CarrierEvent] = field(default_factory=list)  # to pass on to parcels
    own_parcel: ShipmentState | None = None  # the only package's, when the order runs its way
    settled: set[int] = field(default_factory=set)  # voided packages refunded and released
    refunded: int = 0  # minor units given back: voided packages, refunds, compensations
    doubts: list[str] = field(default_factory=list)  # why the delivery goes to audit
    worst_sla: SlaLevel = SlaLevel.OK
    # An update (cancel, confirm receipt) accepted in this workflow task and not yet recorded.
    unrecorded_update: bool = False
    # After the goods went out: refunds support and finance ask for while the order runs.
    after_sales_from: datetime | None = None  # delivery, or the hold that followed shipping
    deciding: bool = False  # on hold after shipping: a refund settles the order too
    refund_answers: dict[str, RefundOutcome] = field(default_factory=dict)  # by request ID
    refunded_units: dict[str, int] = field(default_factory=dict)  # per SKU
    refunding: int = 0  # refunds asked and not answered yet: a cancellation must wait
    # Purposes of refunds asked from outside (batch compensations, passed returns): once each.
    outside_refunds: set[str] = field(default_factory=set)
    timers: list[asyncio.Task[None]] = field(default_factory=list)  # deadlines running
    # One change of money or status at a time: a refund, a cancellation's refund, the end.
    changes: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        # Intake wrote this first entry with the order itself.
        received = TimelineEntry(status=self.status, at=self.order.received_at, note=RECEIVED_NOTE)
        self.timeline = self.timeline or [received]

    # --- what follows from the state -----------------------------------------------------------

    def goods_out(self) -> bool:
        """A parcel is at the customer's or on its way: too late to cancel."""
        return any(p in (Parcel.WITH_CARRIER, Parcel.DELIVERED) for p in self.parcels.values())

    def paid_at(self) -> datetime:
        return next(e.at for e in self.timeline if e.status == OrderStatus.PAID)

    def last_note(self) -> str:
        return self.timeline[-1].note or ""

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            order_id=self.order.order_id,
            status=self.status,
            timeline=self.timeline,
            payment=self.payment,
            tracking_number=self.first_pickup.tracking_number if self.first_pickup else None,
            confirm_by=self.confirm_by,
            hold_reason=self.hold_reason,
            packages=self.plan.packages if self.plan else [],
            refunded=self.refunded,
        )

    # --- the order's steps ----------------------------------------------------------------------

    async def step(
        self, activity: Step[Arg, Result], arg: Arg, retry: RetryPolicy = UNTIL_DONE
    ) -> Result:
        """One step of the order or of the parcel it runs (a local activity), but the first
        after an update was accepted goes through the server.

        The server records an update's acceptance only when the workflow task that accepted
        it completes. Were the cancellation's compensation (cancel the payment or refund it,
        release the stock, record it) and the order's end all in that task, a signal arriving
        meanwhile would make the server refuse the completion: the update dropped with the
        task and its caller told it failed though all of it happened, and the retried task,
        without the update, would leave the order as it was. Scheduling a regular activity
        completes the accepting task before anything moves; a task refused after that is
        retried with the update in its history, and every step is idempotent.
        """
        through_server, self.unrecorded_update = self.unrecorded_update, False
        return await step(activity, arg, retry=retry, through_server=through_server)

    # --- the timeline ------------------------------------------------------------------------

    async def stamp(self, status: OrderStatus, note: str) -> None:
        await self.step(steps.RECORD_TRANSITION, self.enter(status, note))

    async def note(self, note: str) -> None:
        """A timeline entry that changes nothing but tells support what the order waits for."""
        await self.step(steps.RECORD_TRANSITION, self.entry(self.status, note))

    def enter(self, status: OrderStatus, note: str, *, mirror: bool = True) -> TransitionRecord:
        """Move to ``status`` (stamped with workflow time, mirrored to search attributes);
        returns the timeline row for the database, for a step that writes it with more.
        ``mirror=False`` only for a status the order leaves again in the same workflow task:
        operators could never see it, and its upsert would cost a history event."""
        check_transition(self.status, status)
        self.status = status
        if mirror:
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(status.value)])
        return self.entry(status, note)

    def entry(self, status: OrderStatus, note: str) -> TransitionRecord:
        at = workflow.now()
        self.timeline.append(TimelineEntry(status=status, at=at, note=note))
        return TransitionRecord(
            order_id=self.order.order_id, seq=len(self.timeline), status=status, at=at, note=note
        )

    def parcel_progress(self, progress: ShipmentProgress) -> None:
        """A parcel's news: the first pickup means the order is being fulfilled; an exception
        holds it until that parcel moves again."""
        if progress.stage == TrackingStage.EXCEPTION:
            self.troubles[progress.package] = progress
        else:
            self.troubles.pop(progress.package, None)
        if self.parcels.get(progress.package) == Parcel.AT_WAREHOUSE:
            self.parcels[progress.package] = Parcel.WITH_CARRIER
        if progress.stage == TrackingStage.PICKED_UP and self.first_pickup is None:
            self.first_pickup = progress

    def raise_sla_level(self, level: SlaLevel) -> None:
        """The worst level any parcel reached, for operators to filter on."""
        self.worst_sla = max(self.worst_sla, level, key=SLA_SEVERITY.index)
        workflow.upsert_search_attributes([SLA_LEVEL.value_set(self.worst_sla.value)])
