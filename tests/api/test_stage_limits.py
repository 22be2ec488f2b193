"""``GET /shipments/stage-limits``: what each stage of a parcel's way is held to, and why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.rules import FulfilmentRules
from domain.sla import SlaRules, Stage, StageStatistics
from store.db import SessionFactory, transaction
from store.models import utcnow
from store.repositories import SlaStatisticsRepository
from tests.conftest import Stack


@pytest.fixture
def rules() -> FulfilmentRules:
    return FulfilmentRules(sla=SlaRules(min_samples=10))


async def test_the_rules_limits_until_history_tightens_them(
    stack: Stack, sessions: SessionFactory
) -> None:
    response = await stack.api.get("/shipments/stage-limits")
    assert response.status_code == 200, response.text
    by_stage = {row["stage"]: row for row in response.json()}
    assert list(by_stage) == ["pick", "pack", "handover", "transit"]
    assert by_stage["pick"] == {
        "stage": "pick",
        "responsible": "warehouse",
        "configured_yellow_seconds": 45 * 60,
        "configured_red_seconds": 90 * 60,
        "history": None,
        "yellow_seconds": 45 * 60,
        "red_seconds": 90 * 60,
        "source": "rules",
    }
    assert by_stage["transit"]["responsible"] == "support"

    computed_at = utcnow()
    with transaction(sessions) as session:
        SlaStatisticsRepository(session).save(
            [
                StageStatistics(
                    stage=stage,
                    samples=samples,
                    mean=timedelta(minutes=20),
                    stddev=timedelta(minutes=5),
                    computed_at=computed_at,
                )
                for stage, samples in ((Stage.PICK, 12), (Stage.PACK, 9))
            ]
        )
    by_stage = {
        row["stage"]: row for row in (await stack.api.get("/shipments/stage-limits")).json()
    }
    pick, pack = by_stage["pick"], by_stage["pack"]
    assert pick["history"]["samples"] == 12 and pick["history"]["mean_seconds"] == 1200
    assert (pick["yellow_seconds"], pick["red_seconds"], pick["source"]) == (1800, 2100, "history")
    # Nine parcels are too few to go by.
    assert (pack["history"]["samples"], pack["source"], pack["yellow_seconds"]) == (
        9,
        "rules",
        1800,
    )
