"""StatementPullWorkflow: the provider's statement into staging, by the ``statement-pull``
schedule every hour (and at the start of every payments reconciliation)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from domain.contract import WorkflowName
from domain.statements import StatementPulled, StatementPullRequest
from domain.steps import PULL_STATEMENT


@workflow.defn(name=WorkflowName.STATEMENT_PULL)
class StatementPullWorkflow:
    @workflow.run
    async def run(self, request: StatementPullRequest) -> StatementPulled:
        return await pull(request)


async def pull(request: StatementPullRequest) -> StatementPulled:
    # Pages commit one by one and heartbeat: a retried pull goes on where it stopped.
    pulled: StatementPulled = await workflow.execute_activity(
        PULL_STATEMENT.name,
        request,
        result_type=PULL_STATEMENT.gives,
        start_to_close_timeout=timedelta(minutes=30),
        heartbeat_timeout=timedelta(minutes=2),
    )
    return pulled
