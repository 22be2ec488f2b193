"""NightlyExportWorkflow: requests yesterday's export (UTC) and mails finance its link, run by
the ``nightly-export`` Temporal Schedule. An admin still approves the export."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from domain.contract import WorkflowName
from domain.exports import NightlyExport, NightlyExportNotice, NightlyExportRequest
from domain.steps import REQUEST_NIGHTLY_EXPORT


@workflow.defn(name=WorkflowName.NIGHTLY_EXPORT)
class NightlyExportWorkflow:
    @workflow.run
    async def run(self, request: NightlyExportRequest) -> NightlyExportNotice:
        # The run's start time, from its history: a replay or a retry names the same day.
        day = (workflow.now() - timedelta(days=1)).date()
        notice: NightlyExportNotice = await workflow.execute_activity(
            REQUEST_NIGHTLY_EXPORT.name,
            NightlyExport(day=day, **request.model_dump()),
            result_type=REQUEST_NIGHTLY_EXPORT.gives,
            start_to_close_timeout=timedelta(minutes=2),
            # A mail server down for the night: give up before the next night's run is due
            # (the export itself is requested, and waits for approval either way).
            schedule_to_close_timeout=timedelta(hours=12),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
        )
        return notice
