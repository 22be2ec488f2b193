"""SlaStatisticsWorkflow: recomputes each stage's mean and σ from recent parcels, run by the
``sla-statistics`` Temporal Schedule. New shipments take their yellow and red limits from it
(``domain.sla.effective_limits``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sla_statistics import SlaStatisticsActivities
    from domain.sla import StageStatistics, StatisticsRequest


@workflow.defn
class SlaStatisticsWorkflow:
    @workflow.run
    async def run(self, request: StatisticsRequest) -> list[StageStatistics]:
        return await workflow.execute_activity_method(
            SlaStatisticsActivities.recompute_stage_statistics,
            request,
            start_to_close_timeout=timedelta(minutes=5),
        )
