"""All the API knows of Temporal: start an order, ask it, tell it things."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import (
    Client,
    RPCError,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCStatusCode

from api.errors import ServiceUnavailable
from domain.errors import ActionRefused, OrderflowError, OrderNotFound, OutOfStock, ScanRefused
from domain.ids import ORDERS_TASK_QUEUE, order_workflow_id
from domain.messages import (
    CancelRequest,
    CarrierEvent,
    ConfirmReceipt,
    OrderSnapshot,
    OrderWorkflowInput,
    PaymentNotification,
    PaymentView,
)
from domain.order import OrderStatus
from domain.shipping import ParcelEvent, ScanProgress, WarehouseScan, shipment_id
from workflows.order import OrderWorkflow
from workflows.shipment import ShipmentWorkflow

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
        operation = WithStartWorkflowOperation(
            OrderWorkflow.run,
            order,
            id=order_workflow_id(order.order_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(
                        SearchAttributeKey.for_keyword("OrderStatus"),
                        OrderStatus.PENDING_PAYMENT.value,
                    ),
                    SearchAttributePair(SearchAttributeKey.for_keyword("Channel"), order.channel),
                    SearchAttributePair(
                        SearchAttributeKey.for_keyword("CustomerId"), order.customer_id
                    ),
                ]
            ),
        )
        try:
            return await self.client.execute_update_with_start_workflow(
                OrderWorkflow.payment_details, start_workflow_operation=operation
            )
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
            return await self._handle(order_id).query(
                OrderWorkflow.status, rpc_timeout=QUERY_TIMEOUT
            )
        except Exception:  # noqa: BLE001 - any failure means: read the database instead
            return None

    async def notify_payment(self, order_id: str, notification: PaymentNotification) -> bool:
        return await self._signal(order_id, OrderWorkflow.payment_notified, notification)

    async def carrier_event(self, order_id: str, event: CarrierEvent) -> bool:
        return await self._signal(order_id, OrderWorkflow.carrier_event, event)

    async def shipment_event(self, shipment_id: str, event: ParcelEvent) -> bool:
        """True when delivered; False when that shipment's workflow has ended."""
        try:
            await self.client.get_workflow_handle_for(ShipmentWorkflow.run, shipment_id).signal(
                ShipmentWorkflow.carrier_event, event
            )
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise _unavailable(error) from error
        return True

    async def scan(self, scan: WarehouseScan) -> ScanProgress:
        shipment = shipment_id(scan.order_id, scan.package)
        handle = self.client.get_workflow_handle_for(ShipmentWorkflow.run, shipment)
        try:
            return await handle.execute_update(ShipmentWorkflow.warehouse_scan, scan)
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from error
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise OrderNotFound(
                    f"no package {scan.package} of order {scan.order_id} is being shipped"
                ) from error
            raise _unavailable(error) from error

    async def cancel(self, order_id: str, request: CancelRequest) -> OrderSnapshot:
        return await self._update(order_id, OrderWorkflow.cancel, request)

    async def confirm_receipt(self, order_id: str, receipt: ConfirmReceipt) -> OrderSnapshot:
        return await self._update(order_id, OrderWorkflow.confirm_receipt, receipt)

    def _handle(self, order_id: str) -> WorkflowHandle[OrderWorkflow, OrderSnapshot]:
        return self.client.get_workflow_handle_for(OrderWorkflow.run, order_workflow_id(order_id))

    async def _signal(self, order_id: str, signal, arg) -> bool:  # type: ignore[no-untyped-def]
        """True when delivered; False when the order's workflow is not running."""
        try:
            await self._handle(order_id).signal(signal, arg)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise _unavailable(error) from error
        return True

    async def _update(self, order_id: str, update, arg) -> OrderSnapshot:  # type: ignore[no-untyped-def]
        """Cancel and confirm-receipt: asking twice is asking once, so a dropped one is retried."""
        handle = self._handle(order_id)
        attempt = 1
        while True:
            try:
                return await handle.execute_update(update, arg)
            except WorkflowUpdateFailedError as error:
                raise _refusal(error) from error
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    raise ActionRefused(f"order {order_id} is closed") from error
                if error.status != RPCStatusCode.FAILED_PRECONDITION or attempt == UPDATE_ATTEMPTS:
                    raise _unavailable(error) from error
            await asyncio.sleep(UPDATE_RETRY_DELAY.total_seconds() * attempt)
            attempt += 1


REFUSALS: dict[str, type[OrderflowError]] = {
    OutOfStock.__name__: OutOfStock,
    ActionRefused.__name__: ActionRefused,
    ScanRefused.__name__: ScanRefused,
}


def _refusal(error: WorkflowUpdateFailedError) -> OrderflowError:
    """The workflow's refusal as the business error it names (mapped to HTTP once, elsewhere)."""
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return REFUSALS.get(cause.type or "", ActionRefused)(cause.message)
    return ActionRefused(str(cause))


def _unavailable(error: RPCError) -> Exception:
    if error.status == RPCStatusCode.NOT_FOUND:
        return OrderNotFound(str(error))
    return ServiceUnavailable(f"workflow service: {error.message}")
