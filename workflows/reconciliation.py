"""ReconciliationWorkflow: one reconciliation run, by its schedule or on request."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from domain.contract import WorkflowName
from domain.reconciliation import ReconciliationRequest, RunSummary
from domain.steps import RECONCILE_STOCK


@workflow.defn(name=WorkflowName.RECONCILIATION)
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, request: ReconciliationRequest) -> RunSummary:
        # One query over the whole stock: a regular activity with room to take its time.
        summary: RunSummary = await workflow.execute_activity(
            RECONCILE_STOCK.name,
            request,
            result_type=RECONCILE_STOCK.gives,
            start_to_close_timeout=timedelta(minutes=10),
        )
        return summary
