"""Ship-by deadlines per channel, and when a late parcel turns yellow and red."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.presale import realistic_ship_time
from domain.sla import SlaLevel, SlaRules, ship_by_marks

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
