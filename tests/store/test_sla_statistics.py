"""Stage statistics from the shipments' stamps: which parcels count, and the numbers."""

from __future__ import annotations

import statistics
from datetime import timedelta

from activities.sla_statistics import SlaStatisticsActivities
from domain.sla import SlaRules, Stage, StatisticsRequest, effective_limits
from store.db import SessionFactory, transaction
from store.repositories import SlaStatisticsRepository
from tests.store.stamped_parcels import NOW, parcel, picked_in


def test_the_mean_and_sigma_of_recent_picks_are_stored_and_tighten_the_limit(
    sessions: SessionFactory,
) -> None:
    minutes = [8, 9, 10, 10, 11, 12]
    picked_in(sessions, minutes, ended_ago=timedelta(hours=1))
    picked_in(sessions, [300], ended_ago=timedelta(days=20))  # outside the 14-day window

    found = SlaStatisticsActivities(sessions).recompute_stage_statistics(StatisticsRequest())

    pick = next(s for s in found if s.stage == Stage.PICK)
    assert pick.samples == len(minutes)
    assert pick.mean.total_seconds() == statistics.fmean(minutes) * 60
    assert abs(pick.stddev.total_seconds() - statistics.pstdev(minutes) * 60) < 1e-6
    with transaction(sessions) as session:
        stored = SlaStatisticsRepository(session).all()
    assert [s.stage for s in stored] == sorted(Stage)  # every stage, the empty ones too
    assert next(s for s in stored if s.stage == Stage.PICK) == pick

    limits = effective_limits(SlaRules(min_samples=5), stored)
    mean, sigma = statistics.fmean(minutes), statistics.pstdev(minutes)
    assert limits[Stage.PICK].source == "history"
    assert limits[Stage.PICK].yellow == timedelta(minutes=mean + 2 * sigma)
    assert limits[Stage.PACK].source == "rules"  # no packing history


def test_only_the_newest_samples_count_and_instant_stages_are_no_sample(
    sessions: SessionFactory,
) -> None:
    picked_in(sessions, [60, 60], ended_ago=timedelta(hours=3))
    picked_in(sessions, [5, 5, 5], ended_ago=timedelta(hours=1))
    # A one-unit package is packed at its first scan: no time spent packing.
    parcel(sessions, pick_started_at=NOW, packed_at=NOW)

    found = SlaStatisticsActivities(sessions).recompute_stage_statistics(
        StatisticsRequest(samples=3)
    )
    by_stage = {s.stage: s for s in found}
    assert by_stage[Stage.PICK].samples == 3
    assert by_stage[Stage.PICK].mean == timedelta(minutes=5)
    assert by_stage[Stage.PICK].stddev == timedelta(0)
    assert by_stage[Stage.PACK].samples == 0


def test_recomputing_replaces_stale_statistics(sessions: SessionFactory) -> None:
    picked_in(sessions, [10, 20], ended_ago=timedelta(days=13))
    first = SlaStatisticsActivities(sessions).recompute_stage_statistics(StatisticsRequest())
    assert next(s for s in first if s.stage == Stage.PICK).samples == 2
    SlaStatisticsActivities(sessions).recompute_stage_statistics(
        StatisticsRequest(window=timedelta(days=7))
    )
    with transaction(sessions) as session:
        pick = next(s for s in SlaStatisticsRepository(session).all() if s.stage == Stage.PICK)
    assert pick.samples == 0  # the old parcels fell out of the window
