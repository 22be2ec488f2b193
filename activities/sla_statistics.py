"""What recent parcels took in each stage: the history new shipments take their limits from."""

from __future__ import annotations

from temporalio import activity

from domain.sla import Stage, StageStatistics, StatisticsRequest, summarize
from store.db import SessionFactory, transaction
from store.models import utcnow
from store.repositories import SlaStatisticsRepository


class SlaStatisticsActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn
    def recompute_stage_statistics(self, request: StatisticsRequest) -> list[StageStatistics]:
        """Every stage is written, an empty one too: stale statistics must not outlive the
        parcels they came from. Running it twice writes the same rows."""
        now = utcnow()
        with transaction(self.sessions) as session:
            statistics = SlaStatisticsRepository(session)
            found = [
                summarize(
                    stage,
                    statistics.recent_durations(
                        stage, since=now - request.window, limit=request.samples
                    ),
                    at=now,
                )
                for stage in Stage
            ]
            statistics.save(found)
        return found
