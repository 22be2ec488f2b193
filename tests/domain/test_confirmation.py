"""Confirmation windows by region, reminder times and the low-activity tag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.confirmation import (
    ConfirmationRules,
    ParcelTimes,
    Place,
    Region,
    ReminderKind,
    authenticity_doubts,
    is_low_activity,
    region_of,
    reminders,
    window_for,
)

RULES = ConfirmationRules()
HANGZHOU = Place(city="Hangzhou", province="Zhejiang")
SHANGHAI = Place(city="Shanghai", province="Shanghai")
DELIVERED = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("destination", "origins", "region", "hours"),
    [
        (Place(city=" hangzhou ", province="Zhejiang"), [HANGZHOU], Region.SAME_CITY, 24),
        (Place(city="Ningbo", province="Zhejiang"), [HANGZHOU], Region.CROSS_PROVINCE, 48),
        (Place(city="Nanjing", province="Jiangsu"), [HANGZHOU], Region.CROSS_PROVINCE, 48),
        (Place(city="Urumqi", province="Xinjiang"), [HANGZHOU], Region.REMOTE, 72),
        (
            Place(city="Hangzhou", province="Zhejiang"),
            [HANGZHOU, SHANGHAI],
            Region.CROSS_PROVINCE,
            48,
        ),
        (Place(city="Hangzhou"), [], Region.CROSS_PROVINCE, 48),
    ],
)
def test_the_window_follows_how_far_the_parcels_travelled(
    destination: Place, origins: list[Place], region: Region, hours: int
) -> None:
    assert region_of(destination, origins, RULES) == region
    assert window_for(region, RULES) == timedelta(hours=hours)


def test_remote_provinces_are_merchant_data() -> None:
    rules = ConfirmationRules(remote_provinces=["Hainan"], remote=timedelta(hours=96))
    haikou = Place(city="Haikou", province="hainan")
    assert region_of(haikou, [HANGZHOU], rules) == Region.REMOTE
    assert window_for(Region.REMOTE, rules) == timedelta(hours=96)
    assert region_of(Place(city="Urumqi", province="Xinjiang"), [HANGZHOU], rules) == (
        Region.CROSS_PROVINCE
    )


def test_reminders_come_when_a_fifth_remains_and_two_hours_before_the_end() -> None:
    sent = reminders(DELIVERED, timedelta(hours=24), RULES)
    assert [(r.kind, r.at - DELIVERED) for r in sent] == [
        (ReminderKind.REMINDER, timedelta(hours=19, minutes=12)),
        (ReminderKind.FINAL_REMINDER, timedelta(hours=22)),
    ]
    remote = reminders(DELIVERED, timedelta(hours=72), RULES)
    assert [r.at - DELIVERED for r in remote] == [
        timedelta(hours=57, minutes=36),
        timedelta(hours=70),
    ]


def test_a_window_too_short_for_two_reminders_sends_one() -> None:
    sent = reminders(DELIVERED, timedelta(minutes=30), RULES)
    assert [(r.kind, r.at - DELIVERED) for r in sent] == [
        (ReminderKind.REMINDER, timedelta(minutes=24))
    ]


@pytest.mark.parametrize(
    ("recent", "tagged"),
    [
        ([True, True, True], True),
        ([True, True, True, False], True),
        ([True, False, True], False),
        ([True, True], False),
        ([], False),
    ],
)
def test_three_windows_run_out_in_a_row_make_a_low_activity_customer(
    recent: list[bool], tagged: bool
) -> None:
    assert is_low_activity(recent, RULES) is tagged


def parcel(out: float | None, scan: float | None, delivered: float | None) -> ParcelTimes:
    def at(hours: float | None) -> datetime | None:
        return None if hours is None else DELIVERED + timedelta(hours=hours)

    return ParcelTimes(
        package=1, out_of_warehouse=at(out), first_carrier_scan=at(scan), delivered=at(delivered)
    )


@pytest.mark.parametrize(
    ("times", "doubt"),
    [
        ((0, 49, 60), "left the warehouse 49 h before the carrier's first scan"),
        ((0, 10, 5), "signed for before the carrier had it"),
        ((0, 48, 100), None),  # exactly the gap: not yet a doubt
        ((None, 100, 120), None),  # no scans at the bench: no out-time to compare
        ((0, -2, 30), None),  # clocks of two systems disagree a little: not a doubt
    ],
)
def test_times_that_dont_add_up_raise_a_doubt(
    times: tuple[float | None, float | None, float | None], doubt: str | None
) -> None:
    doubts = authenticity_doubts([parcel(*times)], RULES)
    assert (doubt in doubts[0]) if doubt else doubts == []
