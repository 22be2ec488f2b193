"""Late parcels: how long each sales channel gives a paid order before the carrier must have
its parcels (ship-by), how long each stage of a parcel's way may take (stage limits, from the
merchant's rules or learned from history), and when to warn (yellow) and alarm (red)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.contract import AlertRole
from domain.ids import ChannelName


class SlaLevel(StrEnum):
    OK = "ok"
    YELLOW = "yellow"
    RED = "red"


class Stage(StrEnum):
    """A stretch of a parcel's way, between two stamps; named by what happens in it."""

    PICK = "pick"  # paid (or presale goods ready) → first scan at the packing bench
    PACK = "pack"  # first scan → every unit scanned
    HANDOVER = "handover"  # packed → the carrier's pickup
    TRANSIT = "transit"  # the carrier's pickup → delivered


# Who must act when a stage runs late.
RESPONSIBLE: dict[Stage, AlertRole] = {
    Stage.PICK: AlertRole.WAREHOUSE,
    Stage.PACK: AlertRole.WAREHOUSE,
    Stage.HANDOVER: AlertRole.WAREHOUSE,
    Stage.TRANSIT: AlertRole.SUPPORT,  # they chase the carrier and tell the customer
}


class StageLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    yellow: timedelta
    red: timedelta

    @model_validator(mode="after")
    def _yellow_first(self) -> Self:
        if not timedelta(0) < self.yellow <= self.red:
            raise ValueError("a stage limit needs 0 < yellow <= red")
        return self


def _default_stage_limits() -> dict[Stage, StageLimit]:
    return {
        Stage.PICK: StageLimit(yellow=timedelta(minutes=45), red=timedelta(hours=1, minutes=30)),
        Stage.PACK: StageLimit(yellow=timedelta(minutes=30), red=timedelta(hours=1)),
        Stage.HANDOVER: StageLimit(yellow=timedelta(hours=2), red=timedelta(hours=4)),
        Stage.TRANSIT: StageLimit(yellow=timedelta(days=3), red=timedelta(days=5)),
    }


class SlaRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # From payment to the carrier's pickup, per channel (the articles: own site 2 h, Tmall 4 h,
    # PDD next day). Channels not listed use "default".
    ship_by: dict[ChannelName, timedelta] = Field(
        default_factory=lambda: {
            "web": timedelta(hours=2),
            "tmall": timedelta(hours=4),
            "pdd": timedelta(days=1),
            "default": timedelta(days=1),
        }
    )
    # Yellow once this share of the ship-by time has passed without a pickup; red at the end.
    yellow_at: float = Field(0.75, gt=0, lt=1)
    # How long each stage may take before it turns yellow, then red. Once a stage has
    # ``min_samples`` recent durations, mean + 2σ (yellow) and mean + 3σ (red) take over, never
    # later than these: history may only make the limits tighter.
    # A stage the rules leave out keeps its default.
    stages: dict[Stage, StageLimit] = Field(default_factory=_default_stage_limits)
    min_samples: int = Field(30, ge=2)
    # The least margin over the mean a learned limit keeps: a stage that always takes the
    # same time has σ = 0, and its first slightly slow parcel shouldn't raise an alarm.
    learned_floor: timedelta = Field(timedelta(minutes=2), gt=timedelta(0))

    @field_validator("stages", mode="after")
    @classmethod
    def _defaults_for_the_rest(cls, stages: dict[Stage, StageLimit]) -> dict[Stage, StageLimit]:
        return _default_stage_limits() | stages

    def ship_by_for(self, channel: str) -> timedelta:
        return self.ship_by.get(channel) or self.ship_by.get("default") or timedelta(days=1)


class SlaMark(BaseModel):
    level: SlaLevel
    at: datetime
    deadline: datetime


def ship_by_marks(paid_at: datetime, channel: str, rules: SlaRules) -> list[SlaMark]:
    """The yellow and red moments for a parcel not yet picked up, in time order."""
    allowed = rules.ship_by_for(channel)
    deadline = paid_at + allowed
    return [
        SlaMark(level=SlaLevel.YELLOW, at=paid_at + allowed * rules.yellow_at, deadline=deadline),
        SlaMark(level=SlaLevel.RED, at=deadline, deadline=deadline),
    ]


class StageStatistics(BaseModel):
    """Recent durations of one stage, as the scheduled recomputation found them."""

    stage: Stage
    samples: int
    mean: timedelta
    stddev: timedelta
    computed_at: datetime


class StatisticsRequest(BaseModel):
    """What the scheduled recomputation looks at: the newest ``samples`` durations of each
    stage, finished within ``window``."""

    window: timedelta = timedelta(days=14)
    samples: int = Field(1000, ge=2)


class EffectiveLimit(BaseModel):
    """The limit a new shipment uses for a stage, and where it comes from."""

    yellow: timedelta
    red: timedelta
    source: Literal["rules", "history"]
    samples: int = 0


def summarize(stage: Stage, durations: Sequence[timedelta], at: datetime) -> StageStatistics:
    """Mean and (population) standard deviation of the durations."""
    seconds = [d.total_seconds() for d in durations]
    mean = math.fsum(seconds) / len(seconds) if seconds else 0.0
    variance = math.fsum((s - mean) ** 2 for s in seconds) / len(seconds) if seconds else 0.0
    return StageStatistics(
        stage=stage,
        samples=len(seconds),
        mean=timedelta(seconds=mean),
        stddev=timedelta(seconds=math.sqrt(variance)),
        computed_at=at,
    )


def effective_limits(
    rules: SlaRules, learned: Sequence[StageStatistics]
) -> dict[Stage, EffectiveLimit]:
    """Per stage: mean + 2σ (yellow) and mean + 3σ (red) of history when there is enough of
    it, at least ``learned_floor`` over the mean and never later than the configured limit;
    the configured limit otherwise."""
    statistics = {s.stage: s for s in learned}
    limits: dict[Stage, EffectiveLimit] = {}
    for stage, limit in rules.stages.items():
        history = statistics.get(stage)
        if history is None or history.samples < rules.min_samples:
            limits[stage] = EffectiveLimit(yellow=limit.yellow, red=limit.red, source="rules")
            continue
        mean, sigma = history.mean, history.stddev
        yellow = min(mean + max(2 * sigma, rules.learned_floor), limit.yellow)
        red = min(max(mean + 3 * sigma, yellow + rules.learned_floor), limit.red)
        limits[stage] = EffectiveLimit(
            yellow=yellow, red=red, source="history", samples=history.samples
        )
    return limits


class StageMark(BaseModel):
    """When a stage that began at ``since`` turns ``level``."""

    stage: Stage
    level: SlaLevel
    at: datetime
    since: datetime


def stage_marks(stage: Stage, since: datetime, limit: EffectiveLimit) -> list[StageMark]:
    return [
        StageMark(stage=stage, level=SlaLevel.YELLOW, at=since + limit.yellow, since=since),
        StageMark(stage=stage, level=SlaLevel.RED, at=since + limit.red, since=since),
    ]
