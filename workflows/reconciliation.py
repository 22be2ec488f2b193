"""ReconciliationWorkflow: one reconciliation run, by its schedule or on request.

A payments run's activity repairs refunds made at the provider's dashboard in the ledgers;
the orders among them whose workflows still run are then told here (``refund_found``), so
their state and timeline count the refund too. An order that closed meanwhile gets the line
on its timeline instead.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

from domain.contract import OrderSignal, WorkflowName, order_workflow_id
from domain.reconciliation import (
    FoundRefund,
    PaymentsReconciled,
    ReconciliationKind,
    ReconciliationRequest,
    RunSummary,
)
from domain.statements import StatementPullRequest
from domain.steps import (
    NOTE_FOUND_REFUND,
    OPEN_RECONCILIATION_RUN,
    RECONCILE_PAYMENTS,
    RECONCILE_STOCK,
)
from workflows.statement_pull import pull
from workflows.steps import step

# One query over the whole stock or statement: a regular activity with room to take its time.
WHOLE_RUN = timedelta(minutes=10)


@workflow.defn(name=WorkflowName.RECONCILIATION)
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, request: ReconciliationRequest) -> RunSummary:
        if request.kind == ReconciliationKind.PAYMENTS:
            return await self._payments(request)
        summary: RunSummary = await workflow.execute_activity(
            RECONCILE_STOCK.name,
            request,
            result_type=RECONCILE_STOCK.gives,
            start_to_close_timeout=WHOLE_RUN,
        )
        return summary

    async def _payments(self, request: ReconciliationRequest) -> RunSummary:
        if request.run_id is None:  # its schedule's: the row is opened once, here
            opened = await step(OPEN_RECONCILIATION_RUN, request)
            request = request.model_copy(update={"run_id": opened.run_id})
        if request.pull:
            await pull(StatementPullRequest(provider=request.provider))
        reconciled: PaymentsReconciled = await workflow.execute_activity(
            RECONCILE_PAYMENTS.name,
            request,
            result_type=RECONCILE_PAYMENTS.gives,
            start_to_close_timeout=WHOLE_RUN,
            heartbeat_timeout=timedelta(minutes=2),
        )
        for found in reconciled.running:
            await self._tell(found)
        return reconciled.summary

    async def _tell(self, found: FoundRefund) -> None:
        order = workflow.get_external_workflow_handle(order_workflow_id(found.order_id))
        try:
            await order.signal(OrderSignal.REFUND_FOUND, found)
        except FailureError:  # it closed since: its timeline gets the line from here
            await step(NOTE_FOUND_REFUND, found)
