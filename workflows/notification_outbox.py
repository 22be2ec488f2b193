"""NotificationOutboxWorkflow: delivers the customer notifications still unsent, run by the
``notification-outbox`` Temporal Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities, OutboxReport, OutboxRequest


@workflow.defn
class NotificationOutboxWorkflow:
    @workflow.run
    async def run(self, request: OutboxRequest) -> OutboxReport:
        # Each channel gives up after a few seconds, so a batch of 500 fits in minutes.
        return await workflow.execute_activity_method(
            NotificationActivities.deliver_pending,
            request,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=1),
        )
