"""All the API knows of Temporal: start an order, ask it, tell it things.

Workflows are addressed by the contract's names (``domain.contract``): the API process never
imports a workflow, an activity or a worker.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    RPCError,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCStatusCode

from api.errors import ServiceUnavailable
from domain.addresses import AddressChange, AddressOutcome
from domain.compensations import CompensationBatch, CompensationProgress, CompensationRun
from domain.contract import (
    CHANNEL,
    CUSTOMER_ID,
    ORDER_STATUS,
    ORDERS_TASK_QUEUE,
    CompensationQuery,
    OrderQuery,
    OrderSignal,
    OrderUpdate,
    ParcelTracker,
    ReturnUpdate,
    WorkflowName,
    compensation_workflow_id,
    order_workflow_id,
    reconciliation_workflow_id,
    return_workflow_id,
)
from domain.errors import (
    ActionRefused,
    CompensationNotFound,
    OrderflowError,
    OrderNotFound,
    ReturnNotFound,
)
from domain.failures import business_error
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
from domain.order import OrderStatus
from domain.reconciliation import ReconciliationRequest
from domain.refunds import RefundOrder, RefundOutcome
from domain.returns import Inspection, ReturnInput, ReturnScan, ReturnView
from domain.shipping import ParcelEvent, ParcelOnRecord, ScanProgress, WarehouseScan

Answer = TypeVar("Answer", bound=BaseModel)

QUERY_TIMEOUT = timedelta(seconds=2)
# An update the server dropped before recording it: the workflow task that saw it failed on
# completion (say, refused because a signal arrived while it ran) and the server answers
# FAILED_PRECONDITION. For the workflow it never happened, so it is asked again, a few times.
UPDATE_ATTEMPTS = 4
UPDATE_RETRY_DELAY = timedelta(milliseconds=50)


class OrderWorkflows:
    def __init__(self, client: Client, task_queue: str = ORDERS_TASK_QUEUE) -> None:
        self.client = client
        self.task_queue = task_queue

    async def start(self, order: OrderWorkflowInput) -> PaymentView | None:
        """Start the order (once, whatever the retries) and return the payment to complete.

        One update-with-start: the workflow creates the provider payment and the caller
        gets it in the same request. None means the order's workflow already ended.
        """
        operation = WithStartWorkflowOperation[Any, OrderSnapshot](
            WorkflowName.ORDER,
            order,
            result_type=OrderSnapshot,
            id=order_workflow_id(order.order_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(ORDER_STATUS, OrderStatus.PENDING_PAYMENT.value),
                    SearchAttributePair(CHANNEL, order.channel),
                    SearchAttributePair(CUSTOMER_ID, order.customer_id),
                ]
            ),
        )
        try:
            payment: PaymentView = await self.client.execute_update_with_start_workflow(
                OrderUpdate.PAYMENT_DETAILS,
                start_workflow_operation=operation,
                result_type=PaymentView,
            )
            return payment
        except WorkflowAlreadyStartedError:
            return None
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from error
        except RPCError as error:
            if error.status == RPCStatusCode.ALREADY_EXISTS:
                return None  # the order's workflow ran and closed: the database has the rest
            raise _unavailable(error) from error

    async def snapshot(self, order_id: str) -> OrderSnapshot | None:
        """The live state, or None when the workflow can't answer quickly."""
        try:
            snapshot: OrderSnapshot = await self._handle(order_id).query(
                OrderQuery.STATUS, result_type=OrderSnapshot, rpc_timeout=QUERY_TIMEOUT
            )
            return snapshot
        except Exception:  # noqa: BLE001 - any failure means: read the database instead
            return None

    async def notify_payment(self, order_id: str, notification: PaymentNotification) -> bool:
        workflow_id = order_workflow_id(order_id)
        return await self._signal(workflow_id, OrderSignal.PAYMENT_NOTIFIED, notification)

    async def carrier_event(self, order_id: str, event: CarrierEvent) -> bool:
        return await self._signal(order_workflow_id(order_id), OrderSignal.CARRIER_EVENT, event)

    async def stock_arrived(self, order_id: str, arrival: StockArrived) -> bool:
        return await self._signal(order_workflow_id(order_id), OrderSignal.STOCK_ARRIVED, arrival)

    async def parcel_event(self, parcel: ParcelOnRecord, event: ParcelEvent) -> bool:
        """To the workflow that follows the parcel: its shipment's, or its order's."""
        tracker = parcel.tracked_by
        workflow_id = tracker.workflow_id(parcel.order_id, parcel.package)
        return await self._signal(workflow_id, tracker.report_signal, event)

    async def scan(self, scan: WarehouseScan, tracked_by: ParcelTracker) -> ScanProgress:
        """Counted by the workflow that follows the parcel. Not retried: a scan asked twice
        counts twice, as at the bench."""
        handle = self.client.get_workflow_handle(
            tracked_by.workflow_id(scan.order_id, scan.package)
        )
        try:
            progress: ScanProgress = await handle.execute_update(
                tracked_by.scan_update, scan, result_type=ScanProgress
            )
            return progress
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from error
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise OrderNotFound(
                    f"no package {scan.package} of order {scan.order_id} is being shipped"
                ) from error
            raise _unavailable(error) from error

    async def cancel(self, order_id: str, request: CancelRequest) -> OrderSnapshot:
        return await self._update(order_id, OrderUpdate.CANCEL, request, OrderSnapshot)

    async def confirm_receipt(self, order_id: str, receipt: ConfirmReceipt) -> OrderSnapshot:
        return await self._update(order_id, OrderUpdate.CONFIRM_RECEIPT, receipt, OrderSnapshot)

    async def refund(self, order_id: str, ask: RefundOrder) -> RefundOutcome:
        """The order itself answers a repeated request ID with the first refund, and tries
        a parked one again: a fixed update ID would have the server answer "parked" forever."""
        return await self._update(order_id, OrderUpdate.REFUND, ask, RefundOutcome)

    async def change_address(self, order_id: str, change: AddressChange) -> AddressOutcome:
        return await self._update(order_id, OrderUpdate.CHANGE_ADDRESS, change, AddressOutcome)

    async def open_return(self, rma: ReturnInput) -> ReturnView:
        """Start the RMA's workflow and answer with its label, in one round trip."""
        operation = WithStartWorkflowOperation[Any, ReturnView](
            WorkflowName.RETURN,
            rma,
            result_type=ReturnView,
            id=return_workflow_id(rma.rma),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        try:
            view: ReturnView = await self.client.execute_update_with_start_workflow(
                ReturnUpdate.DETAILS, start_workflow_operation=operation, result_type=ReturnView
            )
            return view
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from error
        except RPCError as error:
            raise _unavailable(error) from error

    async def return_scan(self, rma: str, scan: ReturnScan) -> ReturnView:
        return await self._return_update(rma, ReturnUpdate.SCAN, scan)

    async def inspect_return(self, rma: str, inspection: Inspection) -> ReturnView:
        return await self._return_update(rma, ReturnUpdate.INSPECT, inspection)

    async def _return_update(self, rma: str, update: ReturnUpdate, arg: BaseModel) -> ReturnView:
        handle = self.client.get_workflow_handle(return_workflow_id(rma))
        try:
            view: ReturnView = await handle.execute_update(update, arg, result_type=ReturnView)
            return view
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from error
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise ReturnNotFound(f"no open return {rma}") from error
            raise _unavailable(error) from error

    async def reconcile(self, request: ReconciliationRequest) -> None:
        """Start a run (its row opened already); it records what it finds by itself."""
        assert request.run_id is not None
        try:
            await self.client.start_workflow(
                WorkflowName.RECONCILIATION,
                request,
                id=reconciliation_workflow_id(request.run_id),
                task_queue=self.task_queue,
            )
        except RPCError as error:
            raise _unavailable(error) from error

    async def compensate(self, batch: CompensationBatch) -> CompensationProgress:
        """Start the batch, or find it: the same batch started twice is one workflow (and a
        batch that finished answers its result)."""
        workflow_id = compensation_workflow_id(batch.batch_id)
        try:
            await self.client.start_workflow(
                WorkflowName.COMPENSATION,
                CompensationRun(batch=batch),
                id=workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as error:
            raise _unavailable(error) from error
        return await self.compensation(batch.batch_id)

    async def compensation(self, batch_id: str) -> CompensationProgress:
        handle = self.client.get_workflow_handle(
            compensation_workflow_id(batch_id), result_type=CompensationProgress
        )
        try:
            if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
                finished: CompensationProgress = await handle.result()
                return finished
            progress: CompensationProgress = await handle.query(
                CompensationQuery.PROGRESS, result_type=CompensationProgress
            )
            return progress
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise CompensationNotFound(f"no compensation batch {batch_id}") from error
            raise _unavailable(error) from error

    def _handle(self, order_id: str) -> WorkflowHandle[Any, OrderSnapshot]:
        return self.client.get_workflow_handle(
            order_workflow_id(order_id), result_type=OrderSnapshot
        )

    async def _signal(self, workflow_id: str, signal: str, arg: BaseModel) -> bool:
        """True when delivered; False when that workflow is not running."""
        try:
            await self.client.get_workflow_handle(workflow_id).signal(signal, arg)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise _unavailable(error) from error
        return True

    async def _update(
        self,
        order_id: str,
        update: OrderUpdate,
        arg: BaseModel,
        answer: type[Answer],
    ) -> Answer:
        """Updates whose asking twice is asking once, so a dropped one is retried."""
        handle = self._handle(order_id)
        attempt = 1
        while True:
            try:
                result: Answer = await handle.execute_update(update, arg, result_type=answer)
                return result
            except WorkflowUpdateFailedError as error:
                raise _refusal(error) from error
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    raise ActionRefused(f"order {order_id} is closed") from error
                if error.status != RPCStatusCode.FAILED_PRECONDITION or attempt == UPDATE_ATTEMPTS:
                    raise _unavailable(error) from error
            await asyncio.sleep(UPDATE_RETRY_DELAY.total_seconds() * attempt)
            attempt += 1


def _refusal(error: WorkflowUpdateFailedError) -> OrderflowError:
    """The workflow's refusal as the business error it names (mapped to HTTP once, elsewhere)."""
    return business_error(error) or ActionRefused(str(error.cause))


def _unavailable(error: RPCError) -> Exception:
    if error.status == RPCStatusCode.NOT_FOUND:
        return OrderNotFound(str(error))
    return ServiceUnavailable(f"workflow service: {error.message}")
