"""NotificationOutboxWorkflow: delivers the customer notifications still unsent, run by the
``notification-outbox`` Temporal Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from domain.contract import WorkflowName
from domain.messages import OutboxReport, OutboxRequest
from domain.steps import DELIVER_PENDING


@workflow.defn(name=WorkflowName.NOTIFICATION_OUTBOX)
class NotificationOutboxWorkflow:
    @workflow.run
    async def run(self, request: OutboxRequest) -> OutboxReport:
        # Each channel gives up after a few seconds, so a batch of 500 fits in minutes.
        report: OutboxReport = await workflow.execute_activity(
            DELIVER_PENDING.name,
            request.model_copy(update={"as_of": request.as_of or workflow.now()}),
            result_type=DELIVER_PENDING.gives,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=1),
        )
        return report
