"""OrderWorkflow: one durable workflow per order, from intake to completion.

``run`` reads as the merchant's process; each phase lives in a module of its own (stock,
payment, fulfilment, confirmation, compensation) and works on the order's state
(``state.py``). No phase calls another: ``run`` decides what follows each one. Refunds
(``refunds.py``) come from support and finance while the order runs, as an update.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

from domain.addresses import AddressChange, AddressOutcome
from domain.compensations import OrderCompensation
from domain.contract import OrderQuery, OrderSignal, OrderUpdate, PaymentVerdict, WorkflowName
from domain.errors import ActionRefused, OutOfStock
from domain.failures import BY_NAME, as_failure
from domain.messages import (
    CancelRequest,
    CarrierEvent,
    ConfirmReceipt,
    OrderSnapshot,
    OrderWorkflowInput,
    PaymentNotification,
    PaymentView,
    StockArrived,
)
from domain.money import format_amount
from domain.order import AWAITING_RECEIPT, OrderStatus, is_final
from domain.reconciliation import FoundRefund
from domain.refunds import RefundOrder, RefundOutcome
from domain.returns import ReturnRefund
from domain.rules import ShortageAction
from domain.shipping import ParcelEvent, ScanProgress, ShipmentProgress, WarehouseScan
from domain.sla import SlaLevel
from workflows.order import (
    address,
    compensation,
    confirmation,
    fulfilment,
    parcels,
    payment,
    refunds,
    stock,
)
from workflows.order.fulfilment import Shipped
from workflows.order.state import OrderState, begun_in_shape
from workflows.order.stock import Shortage

CANCELLABLE = (
    OrderStatus.PENDING_PAYMENT,
    OrderStatus.PAID,
    OrderStatus.ALLOCATED,
    OrderStatus.ON_HOLD,
)


@workflow.defn(name=WorkflowName.ORDER)
class OrderWorkflow:
    @workflow.init
    def __init__(self, order: OrderWorkflowInput) -> None:
        self.state = OrderState(order)

    @workflow.run
    async def run(self, order: OrderWorkflowInput) -> OrderSnapshot:
        self.state.shape = begun_in_shape()
        await self._process(self.state)
        # Let every update and signal that arrived finish, on every way out, and every
        # deadline they set (an address change support must take up) run its course.
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.state.timers:
            for deadline in self.state.timers:
                await deadline
            await workflow.wait_condition(workflow.all_handlers_finished)  # news meanwhile
        return self.state.snapshot()

    async def _process(self, state: OrderState) -> None:
        if not await self._accept(state):
            return
        paid = await payment.wait_for_payment(state, release=stock.release_pre_reservation)
        if paid is None or paid.verdict == PaymentVerdict.UNPAID:
            return await compensation.release_unpaid(state)
        if paid.verdict == PaymentVerdict.MISMATCH:
            reason = paid.reason or "payment does not match the order"
            return await compensation.hold_until_cancelled(state, reason)
        paid_note = f"paid {format_amount(paid.amount, paid.currency)}"
        if shortage := await stock.allocate(state, paid_note):
            return await self._short_of_stock(state, shortage)
        shipped = await fulfilment.ship_packages(state, settle=compensation.settle_voided)
        if shipped.outcome == Shipped.CANCELLED:
            request = state.cancel_request or CancelRequest(reason="every package was cancelled")
            return await compensation.cancel_paid_order(state, request)
        if shipped.outcome == Shipped.STUCK:
            await compensation.hold_until_cancelled(state, shipped.problems)
            if state.status == OrderStatus.PARTIALLY_REFUNDED:  # a refund settled the hold
                await confirmation.after_settling(state)
            return
        if state.doubts:
            return await confirmation.audit(state)
        await confirmation.confirmation_window(state)

    async def _accept(self, state: OrderState) -> bool:
        """Reserve the stock (unless the channel locks it at payment) while the provider's
        payment is created: the customer waits for its details. False when out of stock."""
        if stock.locks_at_intake(state):
            shortage, created = await asyncio.gather(
                stock.reserve_at_intake(state), payment.create_payment(state)
            )
        else:
            shortage, created = None, await payment.create_payment(state)
        if shortage is not None:
            await payment.cancel_at_provider(state, created)
            state.end_reason = OutOfStock.__name__
            await state.stamp(OrderStatus.CANCELLED, shortage)
            return False
        state.payment = created
        return True

    async def _short_of_stock(self, state: OrderState, shortage: Shortage) -> None:
        if shortage.action == ShortageAction.HOLD:
            await compensation.hold_until_cancelled(state, f"paid but {shortage.problem}")
        else:
            await compensation.cancel_paid_order(state, CancelRequest(reason=shortage.problem))

    # --- signals ---------------------------------------------------------------------------

    @workflow.signal(name=OrderSignal.PAYMENT_NOTIFIED)
    def payment_notified(self, notification: PaymentNotification) -> None:
        """A provider's callback: a reason to ask the provider, never proof of payment."""
        state = self.state
        if (
            state.payment is None
            or notification.payment_intent_id != state.payment.payment_intent_id
        ):
            workflow.logger.warning("ignoring a notice for another payment: %s", notification)
            return
        if state.status == OrderStatus.PENDING_PAYMENT:
            state.payment_notices += 1

    @workflow.signal(name=OrderSignal.CARRIER_EVENT)
    def carrier_event(self, event: CarrierEvent) -> None:
        """A person playing the carrier: passed on to every parcel of the order."""
        self.state.manual_reports.append(event)

    @workflow.signal(name=OrderSignal.STOCK_ARRIVED)
    def stock_arrived(self, _: StockArrived) -> None:
        self.state.stock_arrived = True

    @workflow.signal(name=OrderSignal.COMPENSATE)
    async def compensate(self, ask: OrderCompensation) -> None:
        """A batch compensation (price protection): give this order's share back."""
        await refunds.compensate(self.state, ask)

    @workflow.signal(name=OrderSignal.RETURN_PASSED)
    async def return_passed(self, refund: ReturnRefund) -> None:
        """A returned parcel passed inspection (its ReturnWorkflow): refund its lines."""
        await refunds.return_passed(self.state, refund)

    @workflow.signal(name=OrderSignal.REFUND_FOUND)
    async def refund_found(self, found: FoundRefund) -> None:
        """Reconciliation found a refund made at the provider, and booked it: count it."""
        await refunds.refund_found(self.state, found)

    @workflow.signal(name=OrderSignal.SLA_LEVEL)
    def sla_level(self, level: SlaLevel) -> None:
        """A shipment running late."""
        self.state.raise_sla_level(level)

    @workflow.signal(name=OrderSignal.SHIPMENT_PROGRESS)
    def shipment_progress(self, progress: ShipmentProgress) -> None:
        """A shipment's report: the first pickup, a carrier exception, moving again."""
        self.state.parcel_progress(progress)

    @workflow.signal(name=OrderSignal.PARCEL_EVENT)
    def parcel_event(self, event: ParcelEvent) -> None:
        """A carrier's report on the parcel this order runs itself."""
        parcels.report(self.state, event)

    # --- updates and the query ---------------------------------------------------------------

    @workflow.update(name=OrderUpdate.PAYMENT_DETAILS)
    async def payment_details(self) -> PaymentView:
        """What the customer must pay; answers as soon as the order is accepted."""
        state = self.state
        await workflow.wait_condition(lambda: state.payment is not None or is_final(state.status))
        if state.payment is None:
            refusal = BY_NAME.get(state.end_reason or "", ActionRefused)
            raise as_failure(refusal(f"order is {state.status}: {state.last_note()}"))
        return state.payment

    @workflow.update(name=OrderUpdate.CANCEL)
    async def cancel(self, request: CancelRequest) -> OrderSnapshot:
        state = self.state
        _refuse_during_a_refund(state)  # the validator may have run before it began
        state.unrecorded_update = state.cancel_request is None
        state.cancel_request = state.cancel_request or request
        await workflow.wait_condition(lambda: is_final(state.status) or state.goods_out())
        if not is_final(state.status):
            # Refused means not recorded: it must not cancel the order later, say when a
            # parcel comes back while another one was delivered.
            state.cancel_request = None
            raise as_failure(
                ActionRefused(
                    "a parcel was picked up before the cancellation reached it; "
                    "ask for a return instead"
                )
            )
        return state.snapshot()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        state = self.state
        _refuse_during_a_refund(state)
        if state.goods_out() or state.status not in CANCELLABLE:
            raise as_failure(
                ActionRefused(
                    f"order is {state.status} and can no longer be cancelled; "
                    "ask for a return instead"
                )
            )

    @workflow.update(name=OrderUpdate.CONFIRM_RECEIPT)
    def confirm_receipt(self, receipt: ConfirmReceipt) -> OrderSnapshot:
        state = self.state
        state.unrecorded_update = state.receipt is None
        state.receipt = state.receipt or receipt
        return state.snapshot()

    @confirm_receipt.validator
    def _validate_confirm_receipt(self, receipt: ConfirmReceipt) -> None:
        status = self.state.status
        if status not in AWAITING_RECEIPT:
            raise as_failure(
                ActionRefused(f"order is {status}; receipt can be confirmed once delivered")
            )

    @workflow.update(name=OrderUpdate.REFUND)
    async def refund(self, ask: RefundOrder) -> RefundOutcome:
        """Give money back for what was delivered or came back (``refunds.py``)."""
        return await refunds.refund(self.state, ask)

    @refund.validator
    def _validate_refund(self, ask: RefundOrder) -> None:
        refunds.validate(self.state, ask)

    @workflow.update(name=OrderUpdate.CHANGE_ADDRESS)
    async def change_address(self, change: AddressChange) -> AddressOutcome:
        """Send what has not arrived to a new address (``address.py``)."""
        return await address.change_address(self.state, change)

    @change_address.validator
    def _validate_change_address(self, change: AddressChange) -> None:
        address.validate(self.state)

    @workflow.update(name=OrderUpdate.WAREHOUSE_SCAN)
    async def warehouse_scan(self, scan: WarehouseScan) -> ScanProgress:
        """A scan into the parcel this order runs itself (``parcels.py``)."""
        return await parcels.record_scan(self.state, scan)

    @warehouse_scan.validator
    def _validate_warehouse_scan(self, scan: WarehouseScan) -> None:
        parcels.refuse_wrong_scan(self.state, scan)

    @workflow.query(name=OrderQuery.STATUS)
    def status(self) -> OrderSnapshot:
        return self.state.snapshot()


def _refuse_during_a_refund(state: OrderState) -> None:
    if state.refunding:
        raise as_failure(
            ActionRefused("a refund of this order is being made; ask again once it is answered")
        )
