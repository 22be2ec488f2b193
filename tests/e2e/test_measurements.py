"""`orderflow bench` and `orderflow load` keep working, at a size that says nothing of speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The tools run their own scratch stack on SQLite: the PostgreSQL pass would repeat them.
pytestmark = [pytest.mark.integration, pytest.mark.one_database("sqlite")]

ROOT = Path(__file__).resolve().parents[2]


# The merchant's tightest intake limits: the tools send many orders from one client, for
# many shoppers, and must measure the pipeline all the same.
TIGHT_LIMITS = {
    "ORDERFLOW_UNPAID_UNITS_PER_CUSTOMER": "1",
    "ORDERFLOW_INTAKE_RATE_PER_SECOND": "0.1",
    "ORDERFLOW_INTAKE_BURST": "1",
}


def orderflow_json(*args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")} | TIGHT_LIMITS
    result = subprocess.run(
        [sys.executable, "-m", "orderflow", *args, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: a speed target missed
    return json.loads(result.stdout)


def test_bench_measures_cpu_by_process_for_the_skeleton_and_each_phase_of_an_order() -> None:
    result = orderflow_json("bench", "--workflows", "3", "--concurrency", "2")
    # Skeletons and orders alternate in rounds; never more rounds than workflows.
    assert (result["workflows"], result["concurrency"], result["rounds"]) == (3, 2, 3)
    for phase in ("skeleton", "intake", "paid", "completion", "order"):
        measured = result[phase]
        assert measured["per_second"] > 0
        assert {"temporal", "worker", "api", "payment_fake", "carrier", "client"} <= set(
            measured["cpu_ms"]
        )
        assert measured["own_cpu_ms"] == pytest.approx(
            sum(measured["cpu_ms"][role] for role in ("temporal", "worker", "api")), abs=0.2
        )
    # The counters tick in 10 ms: at this size a phase may read 0, a whole order does not.
    assert result["order"]["cpu_ms"]["worker"] > 0 and result["order"]["cpu_ms"]["api"] > 0
    assert result["order"]["own_cpu_ms"] == pytest.approx(
        sum(result[p]["own_cpu_ms"] for p in ("intake", "paid", "completion")), abs=0.2
    )
    assert 0 < result["history_events"]["order"] <= 80
    # The bench's orders have one package: the order runs its parcel, no workflow of its own.
    assert result["history_events"]["shipment"] == 0
    assert set(result["stages"]) == {
        "payment",
        "allocation",
        "shipping",
        "delivery",
        "confirmation",
    }


def test_load_answers_every_order_and_loses_none() -> None:
    result = orderflow_json("load", "--rate", "5", "--duration", "1")
    ended = (result["completed"], result["lost"], result["unfinished"])
    assert (result["sent"], result["accepted"], *ended) == (5, 5, 5, 0, 0)
    assert result["errors"] == {}
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert {"temporal", "worker", "api"} <= set(result["intake_cpu_ms"])
