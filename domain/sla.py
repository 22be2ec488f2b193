"""Ship-by deadlines: how long each sales channel gives a paid order before the carrier must
have its parcels, and when to warn (yellow) and alarm (red)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class SlaLevel(StrEnum):
    OK = "ok"
    YELLOW = "yellow"
    RED = "red"


class SlaRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # From payment to the carrier's pickup, per channel (the articles: own site 2 h, Tmall 4 h,
    # PDD next day). Channels not listed use "default".
    ship_by: dict[str, timedelta] = Field(
        default_factory=lambda: {
            "web": timedelta(hours=2),
            "tmall": timedelta(hours=4),
            "pdd": timedelta(days=1),
            "default": timedelta(days=1),
        }
    )
    # Yellow once this share of the ship-by time has passed without a pickup; red at the end.
    yellow_at: float = Field(0.75, gt=0, lt=1)

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
