"""The order workflow against canned answers: fake activities registered under the real
activities' names, and an order a test drives through the contract's signals, updates and
query. The tests' order has one package, whose parcel the order runs itself: the test plays
the carrier and the warehouse through the order's own signal and update, as the API does.

The fakes answer what a test tells them to (stock, what the customer paid, the confirmation
terms) and remember every call, so a test asserts what the merchant relies on: which money
went back, which stock was released, what the timeline says.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.shipments import ShipmentActivities
from domain.confirmation import Region
from domain.contract import (
    CHANNEL,
    CUSTOMER_ID,
    ORDER_STATUS,
    OrderQuery,
    OrderSignal,
    OrderUpdate,
    WorkflowName,
    order_workflow_id,
)
from domain.messages import (
    AuditRecord,
    CancelRequest,
    ConfirmationQuery,
    ConfirmationRecord,
    ConfirmationTerms,
    ConfirmReceipt,
    CreatePaymentRequest,
    OrderedLine,
    OrderPackages,
    OrderPolicy,
    OrderSnapshot,
    OrderWorkflowInput,
    PackagesRecord,
    ParkedRefund,
    PaymentCheck,
    PaymentCheckRequest,
    PaymentNotification,
    PaymentView,
    PlannedReservation,
    PlanRequest,
    PresaleNotice,
    RefundMade,
    RefundRequest,
    RefundResult,
    ReminderRequest,
    StockRequest,
    TransitionRecord,
    WindowOpening,
)
from domain.order import OrderStatus
from domain.payments import judge_payment
from domain.refunds import RefundOrder, RefundOutcome
from domain.shipping import (
    HandOver,
    LabelView,
    ParcelEvent,
    ParcelPreparation,
    ParcelTrouble,
    PreparedParcel,
    ScanProgress,
    SlaBreach,
    StageBreach,
    StageStamp,
    TrackingStage,
    WarehouseScan,
    WarehouseStamp,
)
from domain.splitting import GeoPoint, WarehouseStock, plan_or_problem
from workers.main import INTERCEPTORS, WORKFLOW_RUNNER
from workflows.order import OrderWorkflow

Arg = TypeVar("Arg")

# The tests' order: 2 × TEA-001 at 18.00, from the one warehouse, in one package.
SKU = "TEA-001"
TOTAL = 3_600
CURRENCY = "usd"
WAREHOUSE = "HZ"
HANGZHOU = GeoPoint(lat=30.3, lon=120.2)
CARRIER = "sandbox"
TRACKING_NUMBER = "SF1"
# How long, in real time, a test waits for the order to get somewhere.
PATIENCE = 10.0


async def until(condition: Callable[[], bool], what: str = "") -> None:
    """Wait, in real time, for what the worker does next (say, a fake being called)."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what or condition}")
        await asyncio.sleep(0.02)


def order_input(*, channel: str = "web", policy: OrderPolicy | None = None) -> OrderWorkflowInput:
    lines = [OrderedLine(sku=SKU, quantity=2, unit_price=1_800, weight_grams=250)]
    return OrderWorkflowInput(
        order_id=f"{channel}-{uuid.uuid4().hex[:12]}",
        received_at=datetime.now(UTC),
        channel=channel,
        customer_id="cus_1",
        currency=CURRENCY,
        amount=TOTAL,
        lines=lines,
        policy=policy or OrderPolicy(),
    )


# --- the activities -------------------------------------------------------------------------


class FakeActivities:
    """Canned answers for every activity the order workflow calls, and the calls seen."""

    def __init__(self) -> None:
        self.units_in_stock = 100  # of every SKU, at the one warehouse
        self.provider_status = "requires_payment_method"
        self.captured: tuple[int, str] | None = None  # what the customer really paid
        self.units_released = 2
        self.terms = ConfirmationTerms(
            region=Region.SAME_CITY, window=timedelta(hours=24), confirm_on_delivery=False
        )
        self.calls: list[tuple[str, Any]] = []
        self.refund_failures = 0  # refund attempts the provider fails before one succeeds

    def pay(self, amount: int = TOTAL, currency: str = CURRENCY) -> None:
        """The customer pays at the provider (not necessarily what the order asked)."""
        self.provider_status, self.captured = "succeeded", (amount, currency)

    @property
    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.record_transition,
            self.record_packages,
            self.confirmation_terms,
            self.open_confirmation_window,
            self.remind_customer,
            self.record_confirmation,
            self.send_to_audit,
            self.close_audit,
            self.tell_presale_date,
            self.plan_and_reserve,
            self.release_stock,
            self.release_packages,
            self.restock_returned,
            self.create_payment,
            self.check_payment,
            self.cancel_payment,
            self.refund_payment,
            self.refund_at_provider,
            self.record_refund,
            self.park_refund,
            self.prepare_parcel,
            self.hand_over,
            self.stamp_stage,
            self.stamp_warehouse,
            self.raise_sla_alert,
            self.raise_stage_alert,
            self.raise_parcel_exception,
            self.void_label,
            self.carrier_tracking,
        ]

    def calls_to(self, real: Callable[[Any, Arg], Any]) -> list[Arg]:
        """What the fake standing for ``real`` (say ``PaymentActivities.refund_payment``) was
        called with, in order."""
        return [cast(Arg, arg) for name, arg in self.calls if name == real.__name__]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def _seen(self, arg: Any) -> None:
        self.calls.append((activity.info().activity_type, arg))

    # --- orders ---

    @activity.defn(name="record_transition")
    async def record_transition(self, record: TransitionRecord) -> None:
        self._seen(record)

    @activity.defn(name="record_packages")
    async def record_packages(self, record: PackagesRecord) -> None:
        self._seen(record)

    @activity.defn(name="confirmation_terms")
    async def confirmation_terms(self, query: ConfirmationQuery) -> ConfirmationTerms:
        self._seen(query)
        return self.terms

    @activity.defn(name="open_confirmation_window")
    async def open_confirmation_window(self, opening: WindowOpening) -> ConfirmationTerms:
        self._seen(opening)
        return self.terms

    @activity.defn(name="remind_customer")
    async def remind_customer(self, request: ReminderRequest) -> bool:
        self._seen(request)
        return True

    @activity.defn(name="record_confirmation")
    async def record_confirmation(self, record: ConfirmationRecord) -> None:
        self._seen(record)

    @activity.defn(name="send_to_audit")
    async def send_to_audit(self, record: AuditRecord) -> None:
        self._seen(record)

    @activity.defn(name="close_audit")
    async def close_audit(self, record: AuditRecord) -> None:
        self._seen(record)

    @activity.defn(name="tell_presale_date")
    async def tell_presale_date(self, notice: PresaleNotice) -> None:
        self._seen(notice)

    # --- inventory ---

    @activity.defn(name="plan_and_reserve")
    async def plan_and_reserve(self, request: PlanRequest) -> PlannedReservation:
        self._seen(request)
        available = {line.sku: self.units_in_stock for line in request.lines}
        warehouse = WarehouseStock(code=WAREHOUSE, location=HANGZHOU, available=available)
        plan = plan_or_problem(request.lines, HANGZHOU, [warehouse], request.splitting)
        if isinstance(plan, str):
            return PlannedReservation(problem=plan)
        return PlannedReservation(plan=plan)

    @activity.defn(name="release_stock")
    async def release_stock(self, request: StockRequest) -> int:
        self._seen(request)
        return self.units_released

    @activity.defn(name="release_packages")
    async def release_packages(self, request: OrderPackages) -> int:
        self._seen(request)
        return self.units_released

    @activity.defn(name="restock_returned")
    async def restock_returned(self, request: OrderPackages) -> None:
        self._seen(request)

    # --- payments ---

    @activity.defn(name="create_payment")
    async def create_payment(self, request: CreatePaymentRequest) -> PaymentView:
        self._seen(request)
        return PaymentView(
            payment_intent_id=f"pi_{request.order_id}",
            amount=request.amount,
            currency=request.currency,
            status=self.provider_status,
        )

    @activity.defn(name="check_payment")
    async def check_payment(self, request: PaymentCheckRequest) -> PaymentCheck:
        self._seen(request)
        return self._provider_says(request)

    @activity.defn(name="cancel_payment")
    async def cancel_payment(self, request: PaymentCheckRequest) -> PaymentCheck:
        """Like the provider: a payment the customer completed can no longer be cancelled."""
        self._seen(request)
        if self.provider_status != "succeeded":
            self.provider_status = "canceled"
        return self._provider_says(request)

    @activity.defn(name="refund_payment")
    async def refund_payment(self, request: RefundRequest) -> RefundResult:
        self._seen(request)
        if self.refund_failures:
            self.refund_failures -= 1
            raise RuntimeError("the provider timed out")
        return RefundResult(refund_id=f"re_{len(self.calls)}", amount=request.amount)

    @activity.defn(name="refund_at_provider")
    async def refund_at_provider(self, request: RefundRequest) -> RefundMade:
        self._seen(request)
        if self.refund_failures:
            self.refund_failures -= 1
            raise RuntimeError("the provider timed out")
        return RefundMade(request=request, refund_id=f"re_{len(self.calls)}", amount=request.amount)

    @activity.defn(name="record_refund")
    async def record_refund(self, made: RefundMade) -> RefundResult:
        self._seen(made)
        return RefundResult(refund_id=made.refund_id, amount=made.amount)

    @activity.defn(name="park_refund")
    async def park_refund(self, parked: ParkedRefund) -> None:
        self._seen(parked)

    def _provider_says(self, request: PaymentCheckRequest) -> PaymentCheck:
        amount, currency = self.captured or (request.amount, request.currency)
        verdict, reason = judge_payment(
            status=self.provider_status,
            amount=amount,
            currency=currency,
            expected_amount=request.amount,
            expected_currency=request.currency,
        )
        return PaymentCheck(
            payment_intent_id=request.payment_intent_id,
            status=self.provider_status,
            amount=amount,
            currency=currency,
            verdict=verdict,
            reason=reason,
        )

    # --- the parcel -------------------------------------------------------------------------------

    @activity.defn(name="prepare_parcel")
    async def prepare_parcel(self, parcel: ParcelPreparation) -> PreparedParcel:
        self._seen(parcel)
        return PreparedParcel(
            label=LabelView(carrier=CARRIER, label_id="lbl_1", tracking_number=TRACKING_NUMBER)
        )  # no stage watched: the tests' clocks are the order's

    @activity.defn(name="hand_over")
    async def hand_over(self, request: HandOver) -> int:
        self._seen(request)
        return 2

    @activity.defn(name="stamp_stage")
    async def stamp_stage(self, stamp: StageStamp) -> None:
        self._seen(stamp)

    @activity.defn(name="stamp_warehouse")
    async def stamp_warehouse(self, stamp: WarehouseStamp) -> None:
        self._seen(stamp)

    @activity.defn(name="raise_sla_alert")
    async def raise_sla_alert(self, breach: SlaBreach) -> None:
        self._seen(breach)

    @activity.defn(name="raise_stage_alert")
    async def raise_stage_alert(self, breach: StageBreach) -> None:
        self._seen(breach)

    @activity.defn(name="raise_parcel_exception")
    async def raise_parcel_exception(self, trouble: ParcelTrouble) -> None:
        self._seen(trouble)

    @activity.defn(name="void_label")
    async def void_label(self, request: HandOver) -> bool:
        """The carrier voids a label it has not picked up yet."""
        self._seen(request)
        return not self.calls_to(ShipmentActivities.hand_over)

    @activity.defn(name="carrier_tracking")
    async def carrier_tracking(self, request: HandOver) -> list[ParcelEvent]:
        self._seen(request)
        return []


# --- the worker -------------------------------------------------------------------------------


def order_worker(client: Client, fakes: FakeActivities) -> Worker:
    """The order worker's own sandbox rules and failure mapping, around the fakes."""
    return Worker(
        client,
        task_queue=str(uuid.uuid4()),
        workflows=[OrderWorkflow],
        activities=fakes.activities,
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=INTERCEPTORS,
    )


# --- the order, as the API and the shipments address it ---------------------------------------


@dataclass
class PlacedOrder:
    env: WorkflowEnvironment
    handle: WorkflowHandle[Any, OrderSnapshot]
    input: OrderWorkflowInput
    payment: PaymentView

    @property
    def order_id(self) -> str:
        return self.input.order_id

    async def notify_payment(self) -> None:
        await self.handle.signal(
            OrderSignal.PAYMENT_NOTIFIED,
            PaymentNotification(payment_intent_id=self.payment.payment_intent_id),
        )

    async def cancel(self, reason: str = "changed my mind") -> OrderSnapshot:
        return await self.handle.execute_update(
            OrderUpdate.CANCEL, CancelRequest(reason=reason), result_type=OrderSnapshot
        )

    async def confirm_receipt(self, by: str = "customer") -> OrderSnapshot:
        return await self.handle.execute_update(
            OrderUpdate.CONFIRM_RECEIPT, ConfirmReceipt(by=by), result_type=OrderSnapshot
        )

    async def refund(self, ask: RefundOrder) -> RefundOutcome:
        return await self.handle.execute_update(OrderUpdate.REFUND, ask, result_type=RefundOutcome)

    async def snapshot(self) -> OrderSnapshot:
        return await self.handle.query(OrderQuery.STATUS, result_type=OrderSnapshot)

    async def wait_for(self, status: OrderStatus, note: str = "") -> OrderSnapshot:
        """Until the order is in ``status`` with a last timeline note containing ``note``
        (workflow time stands still meanwhile: only the worker's steps run)."""
        deadline = time.monotonic() + PATIENCE
        while True:
            snapshot = await self.snapshot()
            if snapshot.status == status and note in (snapshot.timeline[-1].note or ""):
                return snapshot
            if time.monotonic() > deadline:
                raise AssertionError(f"never {status} ({note!r}); last: {snapshot}")
            await asyncio.sleep(0.02)

    async def carrier_reports(
        self, stage: TrackingStage, at: datetime | None = None, event_id: str | None = None
    ) -> None:
        """The carrier's report on the order's parcel, as the API passes it on."""
        report = ParcelEvent(
            carrier=CARRIER,
            event_id=event_id or uuid.uuid4().hex,
            tracking_number=TRACKING_NUMBER,
            stage=stage,
            at=at or datetime.now(UTC),
        )
        await self.handle.signal(OrderSignal.PARCEL_EVENT, report)

    async def scan(self, quantity: int, sku: str = SKU, package: int = 1) -> ScanProgress:
        """A scan into the parcel at the packing bench."""
        scan = WarehouseScan(order_id=self.order_id, package=package, sku=sku, quantity=quantity)
        return await self.handle.execute_update(
            OrderUpdate.WAREHOUSE_SCAN, scan, result_type=ScanProgress
        )

    async def through_server(self) -> list[str]:
        """The steps that went through the server as regular activities (every other one
        is a local activity): the first after each accepted cancel or receipt confirmation,
        so that the update is recorded before anything it sets off."""
        return [
            event.activity_task_scheduled_event_attributes.activity_type.name
            async for event in self.handle.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]

    async def outcome(self) -> OrderSnapshot:
        """How the order ended (time skips while waiting), once it is checked that no
        workflow task of it failed on the way."""
        snapshot = await self.handle.result()
        failed = [
            event
            async for event in self.handle.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
        assert failed == [], failed
        return snapshot


@dataclass
class Shop:
    """Places orders with the running worker; remembers them to end what a test left open."""

    env: WorkflowEnvironment
    task_queue: str
    fakes: FakeActivities
    started: set[str] = field(default_factory=set)

    async def place(self, order: OrderWorkflowInput | None = None) -> PlacedOrder:
        """Start the order as intake does and wait for what the customer must pay."""
        order = order or order_input()
        handle = await self.env.client.start_workflow(
            WorkflowName.ORDER,
            order,
            id=order_workflow_id(order.order_id),
            task_queue=self.task_queue,
            search_attributes=search_attributes(order),
            result_type=OrderSnapshot,
        )
        self.remember(order)
        payment = await handle.execute_update(OrderUpdate.PAYMENT_DETAILS, result_type=PaymentView)
        return PlacedOrder(self.env, handle, order, payment)

    async def place_paid(self, order: OrderWorkflowInput | None = None) -> PlacedOrder:
        """An order the customer paid in full: allocated, its parcel's label bought."""
        placed = await self.place(order)
        self.fakes.pay()
        await placed.notify_payment()
        await placed.wait_for(OrderStatus.ALLOCATED)
        await until(
            lambda: bool(self.fakes.calls_to(ShipmentActivities.prepare_parcel)), "the label"
        )
        return placed

    def remember(self, order: OrderWorkflowInput) -> None:
        self.started.add(order_workflow_id(order.order_id))


def search_attributes(order: OrderWorkflowInput) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(ORDER_STATUS, OrderStatus.PENDING_PAYMENT.value),
            SearchAttributePair(CHANNEL, order.channel),
            SearchAttributePair(CUSTOMER_ID, order.customer_id),
        ]
    )


def notes(snapshot: OrderSnapshot) -> list[tuple[OrderStatus, str]]:
    """The timeline as support reads it."""
    return [(entry.status, entry.note or "") for entry in snapshot.timeline]
