"""How long a customer has to confirm receipt, and when to remind them.

After the last package is delivered the customer gets a window that depends on how far the
parcel travelled: same city 24 h, another city or province 48 h, a remote region 72 h. A reminder
goes out when a fifth of the window remains and a stronger one two hours before it ends; then
the order confirms itself. A customer who let three windows in a row run out is tagged
low-activity, and their later orders confirm on delivery. All of it is merchant data
(``ConfirmationRules``, in the rules file).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Region(StrEnum):
    SAME_CITY = "same_city"
    CROSS_PROVINCE = "cross_province"
    REMOTE = "remote"


class Place(BaseModel):
    city: str
    province: str | None = None


class ConfirmationRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    same_city: timedelta = timedelta(hours=24)
    cross_province: timedelta = timedelta(hours=48)
    remote: timedelta = timedelta(hours=72)
    # Destinations in these provinces (or regions) count as remote, whatever the distance.
    remote_provinces: list[str] = Field(
        default_factory=lambda: [
            "Xinjiang", "Tibet", "Xizang", "Qinghai", "Gansu", "Ningxia", "Inner Mongolia",
        ]
    )  # fmt: skip
    reminder_at_remaining: float = Field(0.2, gt=0, lt=1)  # share of the window left
    final_reminder_before: timedelta = timedelta(hours=2)
    low_activity_after: int = Field(3, ge=1)  # windows run out in a row
    # Left the warehouse this long before the carrier's first scan: "signed but never
    # received" is likely; the order goes to the audit queue instead of its window.
    audit_gap: timedelta = timedelta(hours=48)


class ReminderKind(StrEnum):
    REMINDER = "reminder"
    FINAL_REMINDER = "final_reminder"


class Reminder(BaseModel):
    kind: ReminderKind
    at: datetime


def region_of(destination: Place, origins: Sequence[Place], rules: ConfirmationRules) -> Region:
    """The farthest any package travelled: one parcel from another province makes the whole
    order cross-province."""
    remote = {province.casefold() for province in rules.remote_provinces}
    if destination.province and destination.province.casefold() in remote:
        return Region.REMOTE
    same_city = all(_same_city(origin, destination) for origin in origins)
    return Region.SAME_CITY if origins and same_city else Region.CROSS_PROVINCE


def window_for(region: Region, rules: ConfirmationRules) -> timedelta:
    return {
        Region.SAME_CITY: rules.same_city,
        Region.CROSS_PROVINCE: rules.cross_province,
        Region.REMOTE: rules.remote,
    }[region]


def reminders(
    delivered_at: datetime, window: timedelta, rules: ConfirmationRules
) -> list[Reminder]:
    """The reminders still worth sending, in time order. A window too short for the final
    reminder to come after the first one sends the first only."""
    ends = delivered_at + window
    first = Reminder(kind=ReminderKind.REMINDER, at=ends - window * rules.reminder_at_remaining)
    final = Reminder(kind=ReminderKind.FINAL_REMINDER, at=ends - rules.final_reminder_before)
    return [first, final] if first.at < final.at else [first]


def is_low_activity(recent_outcomes: Sequence[bool], rules: ConfirmationRules) -> bool:
    """``recent_outcomes``: newest first, True where the window ran out unconfirmed."""
    streak = recent_outcomes[: rules.low_activity_after]
    return len(streak) == rules.low_activity_after and all(streak)


def _same_city(a: Place, b: Place) -> bool:
    return a.city.strip().casefold() == b.city.strip().casefold()


class ParcelTimes(BaseModel):
    package: int
    out_of_warehouse: datetime | None  # packed: the last scan at the bench
    first_carrier_scan: datetime | None
    delivered: datetime | None


def authenticity_doubts(parcels: Sequence[ParcelTimes], rules: ConfirmationRules) -> list[str]:
    """Why the delivery looks wrong, if it does: a parcel that waited longer than
    ``audit_gap`` between leaving the warehouse and the carrier's first scan, or one
    delivered before the carrier ever scanned it."""
    doubts = []
    for parcel in parcels:
        out, scan, delivered = parcel.out_of_warehouse, parcel.first_carrier_scan, parcel.delivered
        if out and scan and scan - out > rules.audit_gap:
            doubts.append(
                f"package {parcel.package} left the warehouse {_hours(scan - out)} before "
                "the carrier's first scan"
            )
        if scan and delivered and delivered < scan:
            doubts.append(f"package {parcel.package} was signed for before the carrier had it")
    return doubts


def _hours(gap: timedelta) -> str:
    return f"{gap.total_seconds() / 3600:.0f} h"
