"""ReconciliationReportWorkflow: last month's payments reconciliation health, mailed to
finance on the 1st by the ``reconciliation-report`` schedule."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from domain.contract import WorkflowName
from domain.reconciliation import HealthReport, ReportRequest
from domain.steps import MAIL_RECONCILIATION_REPORT


@workflow.defn(name=WorkflowName.RECONCILIATION_REPORT)
class ReconciliationReportWorkflow:
    @workflow.run
    async def run(self, request: ReportRequest) -> HealthReport:
        report: HealthReport = await workflow.execute_activity(
            MAIL_RECONCILIATION_REPORT.name,
            request,
            result_type=MAIL_RECONCILIATION_REPORT.gives,
            start_to_close_timeout=timedelta(minutes=5),
        )
        return report
