"""AuditLogPurgeWorkflow: deletes the audit log's rows past their retention, run by the
``audit-log-purge`` Temporal Schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from domain.audit_log import AuditLogPurge, AuditLogPurged
from domain.contract import WorkflowName
from domain.steps import PURGE_AUDIT_LOG


@workflow.defn(name=WorkflowName.AUDIT_LOG_PURGE)
class AuditLogPurgeWorkflow:
    @workflow.run
    async def run(self, request: AuditLogPurge) -> AuditLogPurged:
        # Batches commit one by one and heartbeat: a retried run goes on where it stopped.
        purged: AuditLogPurged = await workflow.execute_activity(
            PURGE_AUDIT_LOG.name,
            request,
            result_type=PURGE_AUDIT_LOG.gives,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
        )
        return purged
