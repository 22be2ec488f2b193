"""Ship-by deadlines per channel, stage limits from rules and history, and when a late
parcel turns yellow and red."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.presale import realistic_ship_time
from domain.sla import (
    EffectiveLimit,
    SlaLevel,
    SlaRules,
    Stage,
    StageLimit,
    StageStatistics,
    effective_limits,
    ship_by_marks,
    stage_marks,
    summarize,
)

PAID = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_each_channel_has_its_ship_by_time_and_the_rest_get_the_default() -> None:
    rules = SlaRules()
    assert rules.ship_by_for("web") == timedelta(hours=2)
    assert rules.ship_by_for("tmall") == timedelta(hours=4)
    assert rules.ship_by_for("pdd") == timedelta(days=1)
    assert rules.ship_by_for("douyin") == timedelta(days=1)


def test_yellow_at_three_quarters_of_the_time_red_at_the_deadline() -> None:
    marks = ship_by_marks(PAID, "tmall", SlaRules())
    deadline = PAID + timedelta(hours=4)
    assert [(m.level, m.at, m.deadline) for m in marks] == [
        (SlaLevel.YELLOW, PAID + timedelta(hours=3), deadline),
        (SlaLevel.RED, deadline, deadline),
    ]


def test_the_warning_share_is_merchant_data() -> None:
    rules = SlaRules(ship_by={"default": timedelta(hours=10)}, yellow_at=0.5)
    assert ship_by_marks(PAID, "web", rules)[0].at == PAID + timedelta(hours=5)


def test_a_presale_promise_under_30_minutes_away_moves_to_now_plus_two_hours() -> None:
    now = PAID
    assert realistic_ship_time(now + timedelta(minutes=29), now) == now + timedelta(hours=2)
    assert realistic_ship_time(now - timedelta(days=1), now) == now + timedelta(hours=2)
    assert realistic_ship_time(now + timedelta(minutes=30), now) == now + timedelta(minutes=30)
    assert realistic_ship_time(now + timedelta(days=3), now) == now + timedelta(days=3)


def history(stage: Stage, samples: int, mean: float, sigma: float) -> StageStatistics:
    """``samples`` durations of ``mean`` ± ``sigma`` minutes."""
    return StageStatistics(
        stage=stage,
        samples=samples,
        mean=timedelta(minutes=mean),
        stddev=timedelta(minutes=sigma),
        computed_at=PAID,
    )


def test_stage_limits_come_from_the_rules_until_history_has_enough_samples() -> None:
    rules = SlaRules(min_samples=30)
    limits = effective_limits(rules, [history(Stage.PICK, 29, 10, 2)])
    assert limits[Stage.PICK] == EffectiveLimit(
        yellow=timedelta(minutes=45), red=timedelta(minutes=90), source="rules"
    )
    assert set(limits) == set(Stage)


def test_with_enough_history_yellow_is_mean_plus_two_sigma_and_red_three() -> None:
    limits = effective_limits(SlaRules(), [history(Stage.PICK, 30, 10, 2)])
    assert limits[Stage.PICK] == EffectiveLimit(
        yellow=timedelta(minutes=14), red=timedelta(minutes=16), source="history", samples=30
    )


def test_history_never_loosens_a_limit_and_keeps_a_least_margin_over_the_mean() -> None:
    slow = effective_limits(SlaRules(), [history(Stage.PACK, 50, 40, 10)])[Stage.PACK]
    assert (slow.yellow, slow.red) == (timedelta(minutes=30), timedelta(hours=1))
    # Always 20 minutes (σ = 0): yellow 2 minutes over, not at the mean itself; red 2 later.
    steady = effective_limits(SlaRules(), [history(Stage.PICK, 50, 20, 0)])[Stage.PICK]
    assert (steady.yellow, steady.red) == (timedelta(minutes=22), timedelta(minutes=24))


def test_rules_that_name_some_stages_keep_the_defaults_for_the_others() -> None:
    rules = SlaRules(
        stages={Stage.PACK: StageLimit(yellow=timedelta(hours=1), red=timedelta(hours=2))}
    )
    assert rules.stages[Stage.PACK].yellow == timedelta(hours=1)
    assert rules.stages[Stage.PICK] == SlaRules().stages[Stage.PICK]
    assert set(rules.stages) == set(Stage)


def test_summarize_gives_the_population_mean_and_sigma() -> None:
    summary = summarize(Stage.TRANSIT, [timedelta(hours=h) for h in (20, 24, 28)], PAID)
    assert summary.samples == 3 and summary.mean == timedelta(hours=24)
    assert abs(summary.stddev.total_seconds() - 3600 * (32 / 3) ** 0.5) < 1e-6
    empty = summarize(Stage.PACK, [], PAID)
    assert (empty.samples, empty.mean, empty.stddev) == (0, timedelta(0), timedelta(0))


def test_a_stage_limit_must_turn_yellow_before_red() -> None:
    with pytest.raises(ValidationError, match="0 < yellow <= red"):
        StageLimit(yellow=timedelta(hours=2), red=timedelta(hours=1))


def test_each_stage_is_marked_from_its_own_start() -> None:
    limit = EffectiveLimit(yellow=timedelta(minutes=30), red=timedelta(hours=1), source="rules")
    marks = stage_marks(Stage.PACK, PAID, limit)
    assert [(m.level, m.at - PAID) for m in marks] == [
        (SlaLevel.YELLOW, timedelta(minutes=30)),
        (SlaLevel.RED, timedelta(hours=1)),
    ]
