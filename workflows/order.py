"""OrderWorkflow: one durable workflow per order, from intake to completion.

It reads like the process a merchant describes: plan the packages and reserve their stock (at
order, at payment or for a short while, as the channel's rules say), take the payment (checked
with the provider, never on a callback's word), ship, wait for delivery, give the customer a
window to confirm receipt, close. Every state change is stamped with workflow time, written
to the order's timeline and mirrored to the ``OrderStatus`` search attribute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.inventory import InventoryActivities
    from activities.orders import OrderActivities
    from activities.payments import PaymentActivities
    from domain.confirmation import ParcelTimes, authenticity_doubts, reminders
    from domain.errors import ActionRefused, OutOfStock, StockMoved
    from domain.messages import (
        AuditRecord,
        CancelRequest,
        CarrierEvent,
        ConfirmationQuery,
        ConfirmationRecord,
        ConfirmationTerms,
        ConfirmReceipt,
        CreatePaymentRequest,
        OrderPackages,
        OrderSnapshot,
        OrderWorkflowInput,
        PackageReservation,
        PackagesRecord,
        PaymentCheck,
        PaymentCheckRequest,
        PaymentNotification,
        PaymentView,
        PresaleNotice,
        RefundRequest,
        ReminderRequest,
        StockQuery,
        StockRequest,
        StockSnapshot,
        TimelineEntry,
        TransitionRecord,
    )
    from domain.money import format_amount
    from domain.order import RECEIVED_NOTE, OrderStatus, check_transition, is_final
    from domain.presale import realistic_ship_time
    from domain.rules import LockStrategy, ShortageAction
    from domain.shipping import (
        ParcelEvent,
        ShipmentInput,
        ShipmentProgress,
        ShipmentResult,
        TrackingStage,
        shipment_id,
    )
    from domain.sla import SlaLevel, ship_by_marks
    from domain.splitting import Package, SplitPlan, UnshippableItem, plan_packages
    from domain.timing import describe_duration
    from workflows.shipment import ShipmentWorkflow
    from workflows.waiting import wait_until

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
SLA_LEVEL = SearchAttributeKey.for_keyword("SlaLevel")
SLA_SEVERITY = [SlaLevel.OK, SlaLevel.YELLOW, SlaLevel.RED]

IO_TIMEOUT = timedelta(seconds=30)
# Provider and database outages are waited out: retries back off up to a minute, forever.
IO_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[OutOfStock.__name__, StockMoved.__name__],
)
# Orders started before this change reserved their lines without packages (docs/operations.md).
PACKAGES_PATCH = "packages"
# Orders started before it have one fixed confirmation window and no reminders.
CONFIRMATION_PATCH = "confirmation-terms"
# Orders started before it are shipped and delivered by hand (carrier-events), one package.
SHIPMENTS_PATCH = "shipments"
# Orders started before it keep the money and stock of packages a late cancellation voided,
# stay on hold when their parcels come back, and keep a cancellation refused as too late.
PARTIAL_FULFILMENT_PATCH = "partial-fulfilment"
# Orders started before it run a cancellation's first step in the task that accepted it.
CANCEL_RECORDED_FIRST_PATCH = "cancel-recorded-first"
# Stock taken between planning and reserving makes the workflow plan again, this many times.
PLAN_ATTEMPTS = 3


@workflow.defn
class OrderWorkflow:
    @workflow.init
    def __init__(self, order: OrderWorkflowInput) -> None:
        self.order = order
        self.status = OrderStatus.PENDING_PAYMENT
        # Intake wrote this first entry with the order itself.
        self.timeline = [
            TimelineEntry(status=self.status, at=order.received_at, note=RECEIVED_NOTE)
        ]
        self.payment: PaymentView | None = None
        self.accepted = False
        self.payment_hint = False
        self.cancel_request: CancelRequest | None = None
        self.cancel_unrecorded = False  # see ``cancel``
        self.shipment: CarrierEvent | None = None
        self.delivery: CarrierEvent | None = None
        self.receipt: ConfirmReceipt | None = None
        self.confirm_by: datetime | None = None
        self.hold_reason: str | None = None
        self.end_reason: str | None = None
        self.packaged = False
        self.region_windows = False
        self.by_shipments = False
        self.cancel_too_late = False
        self.doubts: list[str] = []
        self.manual_reports: list[CarrierEvent] = []
        self.plan: SplitPlan | None = None
        self.reservations = 0  # successful reservation rounds
        self.reserved = False
        self.reserved_until: datetime | None = None  # a pre-reservation's end
        self.parcel_troubles: dict[int, ShipmentProgress] = {}  # carrier exceptions, by package
        self.settles_partly = False
        self.returned: list[int] = []  # packages the carrier brought back
        self.nothing_out = False  # on hold with no parcel at the customer's or on its way
        self.refunded = 0  # minor units already given back (packages that never left)
        self.settled: set[int] = set()  # those packages
        self.worst_sla = SlaLevel.OK

    @workflow.run
    async def run(self, order: OrderWorkflowInput) -> OrderSnapshot:
        await self._process()
        # Let every update and signal that arrived finish, on every way out.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    async def _process(self) -> None:
        # Asked once, up front: an order keeps the shape it started with to the end.
        self.packaged = workflow.patched(PACKAGES_PATCH)
        self.region_windows = workflow.patched(CONFIRMATION_PATCH)
        self.by_shipments = self.packaged and workflow.patched(SHIPMENTS_PATCH)
        self.settles_partly = workflow.patched(PARTIAL_FULFILMENT_PATCH)
        if self.packaged and self.order.policy.stock.lock == LockStrategy.AT_PAYMENT:
            shortage, self.payment = None, await self._create_payment()
        else:
            # Independent steps, run together: the customer waits for the payment details.
            shortage, self.payment = await asyncio.gather(
                self._reserve_at_intake(), self._create_payment()
            )
        if shortage is not None:
            await self._check_payment(PaymentActivities.cancel_payment)
            self.end_reason = OutOfStock.__name__
            await self._stamp(OrderStatus.CANCELLED, shortage)
            return
        self.accepted = True
        check = await self._wait_for_payment()
        if check is None or check.verdict == "unpaid":
            await self._give_up_unpaid()
            return
        if check.verdict == "mismatch":
            await self._hold_until_cancelled(check.reason or "payment does not match the order")
            return
        self.reserved_until = None  # paid in time: the reservation is the order's now
        await self._stamp(OrderStatus.PAID, f"paid {format_amount(check.amount, check.currency)}")
        if not self.packaged:
            await self._stamp(OrderStatus.ALLOCATED, "ships in 1 package")
        elif not await self._allocate_paid_order():
            return

        if self.by_shipments:
            if not await self._ship_packages():
                return
            if self.doubts:
                await self._audit()
                return
        elif not await self._ship_by_hand():
            return
        await self._confirmation_window()

    # --- the steps ---------------------------------------------------------------------------

    async def _ship_packages(self) -> bool:
        """One child ShipmentWorkflow per package; delivered once every parcel arrived.
        False when the order ended or stopped instead (cancelled before pickup, on hold)."""
        assert self.plan is not None
        ready_at = {p.number: await self._presale_ready_at(p) for p in self.plan.packages}
        # Started together: one workflow task, one round trip, however many packages.
        shipments = await asyncio.gather(
            *(
                workflow.start_child_workflow(
                    ShipmentWorkflow.run,
                    self._shipment_input(package, ready_at[package.number]),
                    id=shipment_id(self.order.order_id, package.number),
                    task_queue=workflow.info().task_queue,
                    # A parcel on its way stays tracked even if an operator ends the order.
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
                for package in self.plan.packages
            )
        )
        forwarding = asyncio.create_task(self._forward_manual_reports(shipments))
        # A shipment may end before any pickup (its stock gone: blocked); don't wait for one.
        ended = asyncio.gather(*shipments)
        await wait_until(
            lambda: self.shipment is not None or self.cancel_request is not None or ended.done()
        )
        if self.shipment is None and self.cancel_request is not None and not ended.done():
            for handle in shipments:
                try:
                    await handle.signal(ShipmentWorkflow.cancel)
                except FailureError:
                    pass  # that shipment has ended
            # A parcel the carrier took before the cancellation reached it travels on: the
            # cancellation is refused as soon as its pickup is reported, not at its delivery.
            await wait_until(lambda: self.shipment is not None or ended.done())
        if self.shipment is not None:
            self.cancel_too_late = self.cancel_request is not None
            await self._stamp(OrderStatus.FULFILLING, self._shipment_note())
            await self._follow_parcels(shipments, ended)
        results: list[ShipmentResult] = list(await ended)
        forwarding.cancel()
        if all(result.outcome == "cancelled" for result in results):
            await self._cancel_paid_order()
            return False
        # A parcel was picked up before the cancellation reached it: the order goes on.
        self.cancel_too_late = self.cancel_request is not None
        voided = [r.package for r in results if r.outcome == "cancelled"]
        if self.settles_partly and (unsettled := [p for p in voided if p not in self.settled]):
            await self._settle_voided(unsettled)
        problems = [r for r in results if r.outcome not in ("delivered", "cancelled")]
        if problems and self.settles_partly:
            # Nothing reached the customer: cancelling refunds all and restocks what came back.
            self.returned = [r.package for r in results if r.outcome == "returned"]
            self.nothing_out = all(r.outcome != "delivered" for r in results)
        if problems:
            # A person decides; cancelling refunds and releases what is left (returns of
            # parcels that did travel come with the returns flow).
            await self._hold_until_cancelled(
                "; ".join(f"package {r.package} {r.outcome}: {r.reason}" for r in problems)
            )
            return False
        if self.status == OrderStatus.ALLOCATED:  # a cancel came too late for some parcel
            await self._stamp(OrderStatus.FULFILLING, self._shipment_note())
        if self.status == OrderStatus.ON_HOLD:  # the parcel in trouble arrived after all
            await self._resume_fulfilling()
        self.doubts = authenticity_doubts(
            [
                ParcelTimes(
                    package=r.package,
                    out_of_warehouse=r.packed_at,
                    first_carrier_scan=r.picked_up_at,
                    delivered=r.delivered_at,
                )
                for r in results
            ],
            self.order.policy.confirmation,
        )
        count = len(results)
        await self._stamp(
            OrderStatus.DELIVERED, f"delivered: {count} package{'s' if count != 1 else ''}"
        )
        return True

    async def _follow_parcels(
        self,
        shipments: list[ChildWorkflowHandle[ShipmentWorkflow, ShipmentResult]],
        ended: asyncio.Future[list[ShipmentResult]],
    ) -> None:
        """While parcels travel: a carrier exception puts the order on hold for support, and
        once every parcel in trouble moves again, fulfilment resumes. A package a late
        cancellation stopped is refunded as soon as its label is voided."""

        told: set[int] = set()  # the packages the timeline names as in trouble

        def out_of_step() -> bool:
            if self.status != OrderStatus.ON_HOLD:
                return bool(self.parcel_troubles)
            return set(self.parcel_troubles) != told

        def stopped() -> list[int]:
            if not self.settles_partly:
                return []
            return [
                result.package
                for handle in shipments
                if handle.done() and not handle.cancelled() and handle.exception() is None
                and (result := handle.result()).outcome == "cancelled"
                and result.package not in self.settled
            ]  # fmt: skip

        while True:
            await wait_until(lambda: ended.done() or out_of_step() or bool(stopped()))
            if ended.done():
                return
            if voided := stopped():
                await self._settle_voided(voided)
                continue
            if not self.parcel_troubles:
                told = set()
                await self._resume_fulfilling()
                continue
            told = set(self.parcel_troubles)
            self.hold_reason = "; ".join(
                f"the carrier reported an exception for package {p.package} ({p.tracking_number})"
                for p in sorted(self.parcel_troubles.values(), key=lambda p: p.package)
            )
            if self.status == OrderStatus.ON_HOLD:  # another parcel in trouble, or one less
                await self._note(self.hold_reason)
            else:
                await self._stamp(OrderStatus.ON_HOLD, self.hold_reason)

    async def _settle_voided(self, packages: list[int]) -> None:
        """The packages the cancellation stopped in time: their money back, their stock
        released; the parcels already on their way go on."""
        assert self.plan is not None and self.payment is not None
        self.settled.update(packages)
        value = sum(p.value for p in self.plan.packages if p.number in packages)
        names = ", ".join(str(number) for number in packages)
        reason = f"package{'s' if len(packages) > 1 else ''} {names} cancelled before pickup"
        refund = await self._io(
            PaymentActivities.refund_payment,
            RefundRequest(
                order_id=self.order.order_id,
                payment_intent_id=self.payment.payment_intent_id,
                amount=value,
                reason=reason,
                purpose=f"packages-{'-'.join(str(number) for number in packages)}",
            ),
        )
        self.refunded += refund.amount
        # Only theirs: another package may still be on its way to the carrier.
        await self._io(
            InventoryActivities.release_packages,
            OrderPackages(order_id=self.order.order_id, packages=packages),
        )
        refunded = format_amount(refund.amount, self.order.currency)
        await self._note(f"{reason}: refunded {refunded}, stock released")

    async def _resume_fulfilling(self) -> None:
        self.hold_reason = None
        await self._stamp(OrderStatus.FULFILLING, "the carrier is moving the parcels again")

    async def _audit(self) -> None:
        """Delivered, but the times don't add up: no confirmation window; the order waits in
        the audit queue until someone confirms the receipt."""
        self.hold_reason = f"in the audit queue: {'; '.join(self.doubts)}"
        await self._io(
            OrderActivities.send_to_audit,
            AuditRecord(transition=self._entry(self.status, self.hold_reason), doubts=self.doubts),
        )
        await wait_until(lambda: self.receipt is not None)
        assert self.receipt is not None
        self.hold_reason = None
        await self._io(
            OrderActivities.close_audit,
            AuditRecord(
                transition=self._enter(
                    OrderStatus.COMPLETED, f"receipt confirmed by {self.receipt.by} after audit"
                ),
                doubts=self.doubts,
            ),
        )

    async def _presale_ready_at(self, package: Package) -> datetime | None:
        """When a package with presale goods can ship; a promise less than 30 min away is
        moved to now + 120 min and the customer told."""
        presale: dict[str, datetime] = {
            line.sku: line.presale_ships_at for line in self.order.lines if line.presale_ships_at
        }
        skus = sorted(line.sku for line in package.lines if line.sku in presale)
        if not skus:
            return None
        expected = max(presale[sku] for sku in skus)
        ready_at = realistic_ship_time(expected, workflow.now())
        if ready_at != expected:
            await self._io(
                OrderActivities.tell_presale_date,
                PresaleNotice(
                    order_id=self.order.order_id,
                    customer_id=self.order.customer_id,
                    package=package.number,
                    skus=skus,
                    ships_at=ready_at,
                ),
            )
        return ready_at

    def _shipment_input(self, package: Package, ready_at: datetime | None) -> ShipmentInput:
        start = max(self._paid_at(), ready_at or self._paid_at())
        return ShipmentInput(
            order_id=self.order.order_id,
            customer_id=self.order.customer_id,
            package=package.number,
            warehouse=package.warehouse,
            lines=package.lines,
            weight_grams=package.weight_grams,
            insured_value=package.value if package.insured else 0,
            transaction_id=f"{self.order.order_id}/{self.reservations}/{package.number}",
            # The ship-by clock starts at payment, or when presale goods can ship, if later.
            sla_marks=ship_by_marks(start, self.order.channel, self.order.policy.sla),
            ready_at=start,
            sla=self.order.policy.sla,
        )

    def _paid_at(self) -> datetime:
        return next(e.at for e in self.timeline if e.status == OrderStatus.PAID)

    async def _forward_manual_reports(
        self, shipments: list[ChildWorkflowHandle[ShipmentWorkflow, ShipmentResult]]
    ) -> None:
        """``POST /orders/{id}/carrier-events`` (a person playing the carrier) reaches every
        parcel of the order; a parcel that already arrived ignores it."""
        while True:
            await workflow.wait_condition(lambda: bool(self.manual_reports))
            report = self.manual_reports.pop(0)
            stage = (
                TrackingStage.DELIVERED if report.kind == "delivered" else TrackingStage.PICKED_UP
            )
            for handle in shipments:
                event = ParcelEvent(
                    carrier=report.carrier,
                    event_id=f"manual-{report.kind}",
                    tracking_number=report.tracking_number,
                    stage=stage,
                    at=workflow.now(),
                )
                try:
                    await handle.signal(ShipmentWorkflow.carrier_event, event)
                except FailureError:
                    pass  # that shipment has ended

    async def _ship_by_hand(self) -> bool:
        """Orders started before shipments: a person reports shipped and delivered."""
        await wait_until(lambda: self.shipment is not None or self.cancel_request is not None)
        if self.shipment is None:
            await self._cancel_paid_order()
            return False
        await self._io(InventoryActivities.ship_stock, StockRequest(order_id=self.order.order_id))
        await self._stamp(OrderStatus.FULFILLING, self._shipment_note())
        await wait_until(lambda: self.delivery is not None)
        await self._stamp(OrderStatus.DELIVERED, "delivered")
        return True

    async def _reserve_at_intake(self) -> str | None:
        """Why the order can't be served, or None once its stock is reserved."""
        if not self.packaged:
            return await self._reserve_stock()
        problem = await self._reserve_packages()
        if problem is None and self.order.policy.stock.lock == LockStrategy.PRE_RESERVE:
            self.reserved_until = workflow.now() + self.order.policy.stock.reservation_ttl
        return problem

    async def _reserve_packages(self) -> str | None:
        """Plan the packages from live stock and reserve them, all or nothing.

        Returns why it could not, or None once reserved. Stock taken by another order between
        the snapshot and the reservation only means planning again.
        """
        lines = [line.for_planner() for line in self.order.lines]
        skus = sorted({line.sku for line in lines})
        for _ in range(PLAN_ATTEMPTS):
            snapshot: StockSnapshot = await self._io(
                InventoryActivities.stock_snapshot,
                StockQuery(order_id=self.order.order_id, skus=skus),
            )
            try:
                plan = plan_packages(
                    lines, snapshot.destination, snapshot.warehouses, self.order.policy.splitting
                )
            except UnshippableItem as error:
                return f"cannot ship: {error}"
            if not plan.complete:
                return f"out of stock: {plan.describe_shortages()}"
            try:
                await self._io(
                    InventoryActivities.reserve_packages,
                    PackageReservation(
                        order_id=self.order.order_id,
                        round=self.reservations + 1,
                        packages=plan.packages,
                    ),
                )
            except (ActivityError, ApplicationError) as error:
                failure = _application_error(error)
                if failure is None or failure.type != StockMoved.__name__:
                    raise
                continue
            self.plan, self.reserved = plan, True
            self.reservations += 1
            return None
        return "out of stock: other orders kept taking the units while this one reserved"

    async def _allocate_paid_order(self) -> bool:
        """Reserve now if the channel locks at payment or the pre-reservation ran out; then
        record the packages. False when the order ended instead (refunded, or held and
        cancelled)."""
        if not self.reserved:
            problem = await self._reserve_packages()
            if problem is not None and not await self._wait_for_stock(problem):
                return False
        assert self.plan is not None
        message = f"Your order {self.order.order_id} {self.plan.summary()}."
        await self._io(
            OrderActivities.record_packages,
            PackagesRecord(
                transition=self._enter(OrderStatus.ALLOCATED, self.plan.summary()),
                customer_id=self.order.customer_id,
                packages=self.plan.packages,
                message=message,
            ),
        )
        return True

    async def _wait_for_stock(self, problem: str) -> bool:
        """A paid order without stock: backorder, refund or hold, as the channel says.
        True when stock was found and reserved."""
        rules = self.order.policy.stock
        if rules.on_shortage == ShortageAction.HOLD:
            await self._hold_until_cancelled(f"paid but {problem}")
            return False
        if rules.on_shortage == ShortageAction.BACKORDER:
            deadline = workflow.now() + rules.backorder_wait
            await self._note(
                f"backordered ({problem}); waiting up to {describe_duration(rules.backorder_wait)}"
            )
            while workflow.now() < deadline:
                wake_at = min(deadline, workflow.now() + rules.backorder_recheck)
                await wait_until(lambda: self.cancel_request is not None, until=wake_at)
                if self.cancel_request is not None:
                    break
                retried = await self._reserve_packages()
                if retried is None:
                    return True
                problem = retried
            else:
                problem = f"no stock within {describe_duration(rules.backorder_wait)}: {problem}"
        self.cancel_request = self.cancel_request or CancelRequest(reason=problem)
        await self._cancel_paid_order()
        return False

    async def _release_pre_reservation(self) -> None:
        # Only this round: run again after the payment reserved the next one, it keeps that.
        released = await self._io(
            InventoryActivities.release_stock,
            StockRequest(order_id=self.order.order_id, round=self.reservations),
        )
        ttl = describe_duration(self.order.policy.stock.reservation_ttl)
        self.plan, self.reserved, self.reserved_until = None, False, None
        await self._note(f"unpaid after {ttl}: reservation released, {released} units back on sale")

    async def _reserve_stock(self) -> str | None:
        """Orders started before packages: reserve every line, or say what is short."""
        try:
            await self._io(
                InventoryActivities.reserve_stock,
                StockRequest(order_id=self.order.order_id, lines=self.order.lines),
            )
        except (ActivityError, ApplicationError) as error:
            # A local activity's failure may arrive unwrapped; look for the business error.
            failure = _application_error(error)
            if failure is None or failure.type != OutOfStock.__name__:
                raise
            return f"out of stock: {failure.message}"
        return None

    async def _create_payment(self) -> PaymentView:
        return await self._io(
            PaymentActivities.create_payment,
            CreatePaymentRequest(
                order_id=self.order.order_id,
                customer_id=self.order.customer_id,
                amount=self.order.amount,
                currency=self.order.currency,
            ),
        )

    async def _wait_for_payment(self) -> PaymentCheck | None:
        """Wait for the provider's callback; ask the provider ourselves if it is late.

        Returns the provider's verdict, or None when the order was cancelled before payment.
        """
        started = workflow.info().start_time
        poll_at = started + self.order.policy.payment_poll_after
        deadline = started + self.order.policy.payment_window
        while self.cancel_request is None:
            now = workflow.now()
            if now >= deadline:
                break
            wake_at = poll_at if now < poll_at else deadline
            if self.reserved_until is not None:
                wake_at = min(wake_at, self.reserved_until)
            await wait_until(
                lambda: self.payment_hint or self.cancel_request is not None, until=wake_at
            )
            if self.cancel_request is not None:
                break
            if self.reserved_until is not None and workflow.now() >= self.reserved_until:
                await self._release_pre_reservation()
                if not self.payment_hint and workflow.now() < poll_at:
                    continue
            self.payment_hint = False
            check = await self._check_payment(PaymentActivities.check_payment)
            if check.verdict != "unpaid":
                return check
        # Cancel at the provider; a customer who paid at the last second still gets the order.
        check = await self._check_payment(PaymentActivities.cancel_payment)
        if check.verdict == "unpaid" and self.cancel_request is not None:
            return None
        return check

    async def _check_payment(self, method: Callable[..., object]) -> PaymentCheck:
        assert self.payment is not None
        check: PaymentCheck = await self._io(
            method,
            PaymentCheckRequest(
                order_id=self.order.order_id,
                payment_intent_id=self.payment.payment_intent_id,
                amount=self.order.amount,
                currency=self.order.currency,
            ),
        )
        self.payment = self.payment.model_copy(update={"status": check.status})
        return check

    async def _give_up_unpaid(self) -> None:
        await self._io(
            InventoryActivities.release_stock, StockRequest(order_id=self.order.order_id)
        )
        reason = (
            f"cancelled before payment: {self.cancel_request.reason}"
            if self.cancel_request
            else "payment window ended unpaid; stock released"
        )
        await self._stamp(OrderStatus.CANCELLED, reason)

    async def _cancel_paid_order(self) -> None:
        """Compensate in reverse: give the money back, then the stock."""
        assert self.payment is not None and self.cancel_request is not None
        refund = await self._io(
            PaymentActivities.refund_payment,
            RefundRequest(
                order_id=self.order.order_id,
                payment_intent_id=self.payment.payment_intent_id,
                amount=self.order.amount - self.refunded,  # what voided packages left
                reason=self.cancel_request.reason,
                purpose="cancel" if self.settles_partly else None,
            ),
        )
        await self._io(
            InventoryActivities.release_stock, StockRequest(order_id=self.order.order_id)
        )
        if self.returned:
            await self._io(
                InventoryActivities.restock_returned,
                OrderPackages(order_id=self.order.order_id, packages=self.returned),
            )
        refunded = format_amount(refund.amount, self.order.currency)
        await self._stamp(
            OrderStatus.CANCELLED, f"cancelled: {self.cancel_request.reason}; refunded {refunded}"
        )

    async def _hold_until_cancelled(self, reason: str) -> None:
        self.hold_reason = reason
        if self.status == OrderStatus.ON_HOLD:  # held for a parcel in trouble: say what now
            await self._note(reason)
        else:
            await self._stamp(OrderStatus.ON_HOLD, reason)
        await wait_until(lambda: self.cancel_request is not None)
        await self._cancel_paid_order()

    async def _confirmation_window(self) -> None:
        """The customer's window to confirm receipt, with reminders, then auto-confirm."""
        if not self.region_windows:
            await self._fixed_confirmation_window()
            return
        rules = self.order.policy.confirmation
        terms: ConfirmationTerms = await self._io(
            OrderActivities.confirmation_terms,
            ConfirmationQuery(
                order_id=self.order.order_id, customer_id=self.order.customer_id, rules=rules
            ),
        )
        if terms.confirm_on_delivery:
            await self._stamp(
                OrderStatus.COMPLETED,
                "confirmed on delivery: the customer let earlier windows run out",
            )
            return
        window = self.order.policy.confirmation_window or terms.window
        delivered_at = workflow.now()
        self.confirm_by = delivered_at + window
        confirmed = False
        for reminder in reminders(delivered_at, window, rules):
            confirmed = await wait_until(lambda: self.receipt is not None, reminder.at)
            if confirmed:
                break
            await self._io(
                OrderActivities.remind_customer,
                ReminderRequest(
                    order_id=self.order.order_id,
                    customer_id=self.order.customer_id,
                    kind=reminder.kind,
                    confirm_by=self.confirm_by,
                ),
            )
        if not confirmed:
            confirmed = await wait_until(lambda: self.receipt is not None, self.confirm_by)
        if confirmed and self.receipt is not None:
            note = f"receipt confirmed by {self.receipt.by}"
        else:
            note = (
                f"confirmed automatically after {describe_duration(window)} "
                f"({terms.region.value.replace('_', ' ')})"
            )
        await self._io(
            OrderActivities.record_confirmation,
            ConfirmationRecord(
                transition=self._enter(OrderStatus.COMPLETED, note),
                customer_id=self.order.customer_id,
                automatic=not confirmed,
                rules=rules,
            ),
        )

    async def _fixed_confirmation_window(self) -> None:
        """Orders started before region windows: one fixed window, no reminders."""
        window = self.order.policy.confirmation_window or timedelta(hours=48)
        self.confirm_by = workflow.now() + window
        confirmed = await wait_until(lambda: self.receipt is not None, until=self.confirm_by)
        if confirmed and self.receipt is not None:
            await self._stamp(OrderStatus.COMPLETED, f"receipt confirmed by {self.receipt.by}")
        else:
            await self._stamp(
                OrderStatus.COMPLETED, f"confirmed automatically after {describe_duration(window)}"
            )

    # --- signals, updates, query ---------------------------------------------------------------

    @workflow.signal
    def payment_notified(self, notification: PaymentNotification) -> None:
        if self.payment is None or notification.payment_intent_id != self.payment.payment_intent_id:
            workflow.logger.warning("ignoring a notice for another payment: %s", notification)
            return
        if self.status == OrderStatus.PENDING_PAYMENT:
            self.payment_hint = True

    @workflow.signal
    def carrier_event(self, event: CarrierEvent) -> None:
        if self.by_shipments:
            self.manual_reports.append(event)  # passed on to the order's shipments
            return
        # Carriers repeat and reorder events: a delivery implies the parcel was shipped.
        if event.kind == "delivered":
            self.delivery = self.delivery or event
        self.shipment = self.shipment or event

    @workflow.signal
    def sla_level(self, level: SlaLevel) -> None:
        """A shipment running late: the worst level the order reached is mirrored to
        ``SlaLevel`` so operators can filter on it."""
        self.worst_sla = max(self.worst_sla, level, key=SLA_SEVERITY.index)
        workflow.upsert_search_attributes([SLA_LEVEL.value_set(self.worst_sla.value)])

    @workflow.signal
    def shipment_progress(self, progress: ShipmentProgress) -> None:
        """A shipment's report: the first pickup means the order is being fulfilled; an
        exception holds it until that parcel moves again."""
        if progress.stage == TrackingStage.EXCEPTION:
            self.parcel_troubles[progress.package] = progress
        else:
            self.parcel_troubles.pop(progress.package, None)
        if progress.stage == TrackingStage.PICKED_UP and self.shipment is None:
            self.shipment = CarrierEvent(
                kind="shipped", tracking_number=progress.tracking_number, carrier=progress.carrier
            )

    @workflow.update
    async def payment_details(self) -> PaymentView:
        """What the customer must pay; answers as soon as the provider payment exists."""
        await workflow.wait_condition(lambda: self.accepted or is_final(self.status))
        if not self.accepted or self.payment is None:
            raise ApplicationError(
                f"order is {self.status}: {self._last_note()}",
                type=self.end_reason or ActionRefused.__name__,
                non_retryable=True,
            )
        return self.payment

    @workflow.update
    async def cancel(self, request: CancelRequest) -> OrderSnapshot:
        if self.cancel_request is None and workflow.patched(CANCEL_RECORDED_FIRST_PATCH):
            # The server records this update's acceptance only when the workflow task that
            # accepted it completes. Compensating with local activities in that same task
            # (cancel the payment or refund it, release the stock, record the cancellation)
            # and ending the order there too, a signal arriving meanwhile made the server
            # refuse the completion: the update was dropped with the task and its caller told
            # it failed, though all of it had happened; the retried task, without the update,
            # left the order as it was. So the cancellation's first I/O goes through the
            # server (``_io``): scheduling it completes the accepting task before anything
            # moves, and a refused task after that is retried with the update in its history.
            self.cancel_unrecorded = True
        self.cancel_request = self.cancel_request or request
        await workflow.wait_condition(
            lambda: is_final(self.status) or (self.cancel_too_late and not self.nothing_out)
        )
        if not is_final(self.status):
            if self.settles_partly:
                # Refused means not recorded: it must not cancel the order later, say when a
                # parcel comes back while another one was delivered.
                self.cancel_request = None
            raise _refused(
                "a parcel was picked up before the cancellation reached it; "
                "ask for a return instead"
            )
        return self.snapshot()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if (self.shipment is not None and not self.nothing_out) or self.status not in (
            OrderStatus.PENDING_PAYMENT,
            OrderStatus.PAID,
            OrderStatus.ALLOCATED,
            OrderStatus.ON_HOLD,
        ):
            raise _refused(
                f"order is {self.status} and can no longer be cancelled; ask for a return instead"
            )

    @workflow.update
    def confirm_receipt(self, receipt: ConfirmReceipt) -> OrderSnapshot:
        self.receipt = self.receipt or receipt
        return self.snapshot()

    @confirm_receipt.validator
    def _validate_confirm_receipt(self, receipt: ConfirmReceipt) -> None:
        if self.status != OrderStatus.DELIVERED:
            raise _refused(f"order is {self.status}; receipt can be confirmed once delivered")

    @workflow.query
    def status(self) -> OrderSnapshot:
        return self.snapshot()

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            order_id=self.order.order_id,
            status=self.status,
            timeline=self.timeline,
            payment=self.payment,
            tracking_number=self.shipment.tracking_number if self.shipment else None,
            confirm_by=self.confirm_by,
            hold_reason=self.hold_reason,
            packages=self.plan.packages if self.plan else [],
        )

    # --- plumbing ------------------------------------------------------------------------------

    async def _stamp(self, status: OrderStatus, note: str) -> None:
        await self._io(OrderActivities.record_transition, self._enter(status, note))

    async def _note(self, note: str) -> None:
        """A timeline entry that changes nothing but tells support what the order waits for."""
        await self._io(OrderActivities.record_transition, self._entry(self.status, note))

    def _enter(self, status: OrderStatus, note: str) -> TransitionRecord:
        """Move to ``status`` (stamped with workflow time, mirrored to search attributes);
        returns the timeline row for the database."""
        check_transition(self.status, status)
        self.status = status
        workflow.upsert_search_attributes([ORDER_STATUS.value_set(status.value)])
        return self._entry(status, note)

    def _entry(self, status: OrderStatus, note: str) -> TransitionRecord:
        at = workflow.now()
        self.timeline.append(TimelineEntry(status=status, at=at, note=note))
        return TransitionRecord(
            order_id=self.order.order_id, seq=len(self.timeline), status=status, at=at, note=note
        )

    async def _io(self, method: Callable[..., object], arg: object):  # type: ignore[no-untyped-def]
        """Every step here is short and idempotent, so it runs as a local activity: the worker
        runs it inside the workflow task and records one marker, instead of a round trip
        through the server and three events. Retries are the same, so are the guarantees.
        The exception: the first step of a cancellation (see ``cancel``)."""
        if self.cancel_unrecorded:
            self.cancel_unrecorded = False
            return await workflow.execute_activity_method(
                method,  # type: ignore[arg-type]
                arg,
                start_to_close_timeout=IO_TIMEOUT,
                retry_policy=IO_RETRY,
            )
        return await workflow.execute_local_activity_method(
            method,  # type: ignore[arg-type]
            arg,
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
        )

    def _shipment_note(self) -> str:
        assert self.shipment is not None
        tracking = self.shipment.tracking_number or "no tracking number"
        return f"shipped with {self.shipment.carrier} ({tracking})"

    def _last_note(self) -> str:
        return (self.timeline[-1].note or "") if self.timeline else ""


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=ActionRefused.__name__, non_retryable=True)


def _application_error(error: BaseException) -> ApplicationError | None:
    if isinstance(error, ApplicationError):
        return error
    cause = error.cause if isinstance(error, ActivityError) else None
    return cause if isinstance(cause, ApplicationError) else None
