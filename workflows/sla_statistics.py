"""SlaStatisticsWorkflow: recomputes each stage's mean and σ from recent parcels, run by the
``sla-statistics`` Temporal Schedule. New shipments take their yellow and red limits from it
(``domain.sla.effective_limits``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from domain.contract import WorkflowName
from domain.sla import StageStatistics, StatisticsRequest
from domain.steps import RECOMPUTE_STAGE_STATISTICS


@workflow.defn(name=WorkflowName.SLA_STATISTICS)
class SlaStatisticsWorkflow:
    @workflow.run
    async def run(self, request: StatisticsRequest) -> list[StageStatistics]:
        statistics: list[StageStatistics] = await workflow.execute_activity(
            RECOMPUTE_STAGE_STATISTICS.name,
            request,
            result_type=RECOMPUTE_STAGE_STATISTICS.gives,
            start_to_close_timeout=timedelta(minutes=5),
        )
        return statistics
