"""Stage limits: every stretch of a parcel's way (pick, pack, handover, transit) has a yellow
and a red limit. Crossing one alerts whoever must act, with a link to the order, and marks the
order's SlaLevel; the parcel moving on resolves the stage's alerts. Once enough history exists,
mean + 2σ (yellow) and mean + 3σ (red) of recent parcels tighten the limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.order import OrderStatus
from domain.rules import FulfilmentRules
from domain.sla import Stage, StageLimit, StageStatistics
from store.db import SessionFactory, transaction
from store.repositories import SlaStatisticsRepository
from tests.conftest import TEST_RULES, Stack
from tests.workflows.shipping_support import (
    get_order,
    lines,
    paid_and_labelled,
    report,
    scan,
    sla_alerts,
    sla_level,
    wait_for,
    when,
)

LIMITS = {
    Stage.PICK: StageLimit(yellow=timedelta(minutes=30), red=timedelta(hours=1)),
    Stage.PACK: StageLimit(yellow=timedelta(minutes=20), red=timedelta(minutes=40)),
    Stage.HANDOVER: StageLimit(yellow=timedelta(hours=1), red=timedelta(hours=2)),
    Stage.TRANSIT: StageLimit(yellow=timedelta(days=1), red=timedelta(days=2)),
}


@pytest.fixture
def rules() -> FulfilmentRules:
    """The test merchant's rules with stage limits near enough to cross. Each test here
    delivers its parcel before it ends, so no stage clock outlives it."""
    sla = TEST_RULES.sla.model_copy(update={"stages": LIMITS, "min_samples": 10})
    return TEST_RULES.model_copy(update={"sla": sla})


async def open_levels(stack: Stack) -> list[tuple[str, str, str]]:
    """(stage, level, role) of each open SLA alert, oldest first."""
    found = [
        (a["message"].split(" stage ")[0], a["level"], a["role"]) for a in await sla_alerts(stack)
    ]
    return found[::-1]


async def test_each_stage_turns_yellow_then_red_and_moving_on_resolves_it(
    stack: Stack, localstripe_url: str
) -> None:
    order, _ = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id = order["id"]
    body = await get_order(stack, order_id)
    paid_at = when(next(e["at"] for e in body["timeline"] if e["status"] == "paid"))

    # Nobody starts picking: yellow after 30 min, red after an hour, for the warehouse.
    await stack.env.sleep(timedelta(minutes=31))
    assert await open_levels(stack) == [("pick", "yellow", "warehouse")]
    [yellow] = await sla_alerts(stack)
    assert yellow["subject"] == f"package 1 of order {order_id}"
    assert f"/orders/{order_id}" in yellow["message"]
    assert f"since {paid_at:%Y-%m-%d %H:%M} UTC" in yellow["message"]
    assert "over 30 min" in yellow["message"] and "the merchant's limit" in yellow["message"]
    assert await sla_level(stack, order_id) == "yellow"
    await stack.env.sleep(timedelta(minutes=30))
    assert await open_levels(stack) == [
        ("pick", "yellow", "warehouse"),
        ("pick", "red", "warehouse"),
    ]
    assert await sla_level(stack, order_id) == "red"

    # The first scan ends the pick (its alerts close) and starts the packing clock.
    assert (await scan(stack, order_id, 1, "TEA-001")).status_code == 200
    assert await open_levels(stack) == []
    await stack.env.sleep(timedelta(minutes=21))
    assert await open_levels(stack) == [("pack", "yellow", "warehouse")]

    # Packed: waiting for the carrier now.
    assert (await scan(stack, order_id, 1, "TEA-001")).json()["packed"] is True
    assert await open_levels(stack) == []
    await stack.env.sleep(timedelta(minutes=61))
    assert await open_levels(stack) == [("handover", "yellow", "warehouse")]

    # The carrier's pickup ends the handover; transit belongs to support.
    [package] = (await get_order(stack, order_id))["packages"]
    picked_up_at = await stack.env.get_current_time()
    await report(stack, package["tracking_number"], "picked_up", picked_up_at)
    await wait_for(stack, order_id, OrderStatus.FULFILLING)
    assert await open_levels(stack) == []
    await stack.env.sleep(timedelta(days=1, minutes=1))
    assert await open_levels(stack) == [("transit", "yellow", "support")]
    # A lower level later on doesn't hide that the order went red.
    assert await sla_level(stack, order_id) == "red"

    delivered_at = picked_up_at + timedelta(days=1, minutes=5)
    await report(stack, package["tracking_number"], "delivered", delivered_at)
    await wait_for(stack, order_id, OrderStatus.DELIVERED)
    assert await open_levels(stack) == []
    raised = await sla_alerts(stack, include_resolved="true")
    assert len(raised) == 5 and all(a["resolved_at"] for a in raised)
    await stack.keep_history(order_id, "parcel_late_at_every_stage")


async def test_a_parcel_on_time_in_every_stage_raises_nothing(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    order_id = order["id"]
    await stack.env.sleep(timedelta(minutes=25))
    assert (await scan(stack, order_id, 1, "TEA-001")).json()["packed"] is True
    await stack.env.sleep(timedelta(minutes=50))
    now = await stack.env.get_current_time()
    await report(stack, package["tracking_number"], "picked_up", now)
    await wait_for(stack, order_id, OrderStatus.FULFILLING)
    await stack.env.sleep(timedelta(hours=20))
    await report(stack, package["tracking_number"], "delivered", now + timedelta(hours=20))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)
    assert await sla_alerts(stack, include_resolved="true") == []
    assert await sla_level(stack, order_id) is None


async def test_history_tightens_a_stage_to_mean_plus_two_sigma(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """Picking usually takes 10 ± 2 min here: 14 min is unusual, long before the configured
    30 min; red at mean + 3σ, 16 min."""
    now = await stack.env.get_current_time()
    with transaction(sessions) as session:
        SlaStatisticsRepository(session).save(
            [
                StageStatistics(
                    stage=Stage.PICK,
                    samples=40,
                    mean=timedelta(minutes=10),
                    stddev=timedelta(minutes=2),
                    computed_at=now,
                )
            ]
        )
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    order_id = order["id"]

    await stack.env.sleep(timedelta(minutes=13))
    assert await sla_alerts(stack) == []
    await stack.env.sleep(timedelta(minutes=2))
    [yellow] = await sla_alerts(stack)
    assert yellow["level"] == "yellow" and "over 14 min" in yellow["message"]
    assert "the usual time of the last 40 parcels" in yellow["message"]
    await stack.env.sleep(timedelta(minutes=2))
    assert [a["level"] for a in await sla_alerts(stack)] == ["red", "yellow"]

    now = await stack.env.get_current_time()
    await report(stack, package["tracking_number"], "picked_up", now)
    await report(stack, package["tracking_number"], "delivered", now + timedelta(hours=3))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)
    assert await sla_alerts(stack) == []
