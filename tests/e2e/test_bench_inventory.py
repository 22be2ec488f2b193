"""`orderflow bench-inventory`: the planner timing, the reservation race, the command itself."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from domain import splitting
from domain.rules import SplitRules
from domain.splitting import plan_packages
from orderflow.bench_inventory import (
    RaceResult,
    measure_planner,
    measure_race,
    planner_scenario,
    race_invariants,
)
from orderflow.cli import app


def test_the_planner_scenario_splits_lines_and_no_warehouse_holds_the_whole_order() -> None:
    lines, destination, warehouses = planner_scenario()
    assert (len(lines), len(warehouses)) == (50, 20)
    assert not any(all(w.available.get(x.sku, 0) >= x.quantity for x in lines) for w in warehouses)
    plan = plan_packages(lines, destination, warehouses, SplitRules())
    reasons = [reason for package in plan.packages for reason in package.reasons]
    for rule in ("short at", "cold chain", "fragile", "high value", "weight limit", "merged"):
        assert any(rule in reason for reason in reasons), rule
    assert planner_scenario() == (lines, destination, warehouses)  # the fixed seed


def planner_steps(*, lines: int, warehouses: int) -> int:
    """The planner's work on the bench scenario, as lines of domain/splitting.py executed:
    exact, and the same on a busy machine as on an idle one, unlike a stopwatch."""
    scenario = planner_scenario(lines=lines, warehouses=warehouses)
    steps = 0

    def count(frame: FrameType, event: str, arg: object) -> Callable[..., object] | None:
        nonlocal steps
        if event == "line":
            steps += 1
        return count

    def enter(frame: FrameType, event: str, arg: object) -> Callable[..., object] | None:
        return count if frame.f_code.co_filename == splitting.__file__ else None

    previous = sys.gettrace()  # a coverage tool's, if one runs
    sys.settrace(enter)
    try:
        plan_packages(*scenario, SplitRules())
    finally:
        sys.settrace(previous)
    return steps


def test_the_planners_work_grows_in_step_with_the_order() -> None:
    # Speed is measured as ratios by `orderflow bench-inventory`, not timed here: a time limit
    # loose enough for a busy machine can't fail. Counted work can: 16 times the lines, or the
    # warehouses, cost ~17x (~9x) the work today, while a step quadratic in either (a scan of
    # every line for each line) costs 40x or more. 24x is generous yet catches that.
    # Each size grows against a small other one, where its own cost dominates.
    assert planner_steps(lines=800, warehouses=20) <= 24 * planner_steps(lines=50, warehouses=20)
    assert planner_steps(lines=10, warehouses=320) <= 24 * planner_steps(lines=10, warehouses=20)


def test_the_planner_bench_reports_its_scenario() -> None:
    result = measure_planner(runs=20)
    assert (result.lines, result.warehouses, result.runs) == (50, 20, 20)
    assert 0 < result.p50_ms <= result.p99_ms
    assert 0 < result.mean_ms <= result.p99_ms
    assert result.packages > 20 and result.warehouses_used > 5
    assert result.lines_split_by_shortage == 10
    assert result.cold_chain_packages and result.fragile_packages and result.insured_packages


@pytest.mark.postgres
def test_the_race_sells_exactly_the_units_in_stock(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("the reservation race is tested on PostgreSQL (ORDERFLOW_TEST_DATABASE_URL)")
    race = measure_race(database_url, attempts=500, units=50, threads=32)
    assert (race.succeeded, race.refused, race.errors) == (50, 450, {})
    assert (race.on_hand, race.reserved, race.available) == (50, 50, 0)
    assert race.samples > 0 and race.lowest_available_seen == 0
    assert not race.negative_available_seen
    assert race.ledger_reserve_rows == race.ledger_reserved_units == 50
    assert all(race_invariants(race).values())


def test_the_invariants_catch_an_oversold_unit() -> None:
    fine = RaceResult(
        database="postgresql", attempts=10, units=3, threads=2, succeeded=3, refused=7,
        errors={}, on_hand=3, reserved=3, available=0, samples=5, levels_seen=4,
        lowest_available_seen=0, negative_available_seen=False, ledger_reserve_rows=3,
        ledger_reserved_units=3, wall_seconds=0.1, attempts_per_second=100.0,
        attempt_p50_ms=1.0, attempt_p99_ms=2.0,
    )  # fmt: skip
    assert all(race_invariants(fine).values())
    oversold = replace(fine, succeeded=4, refused=6, ledger_reserve_rows=4, ledger_reserved_units=4)
    assert not all(race_invariants(oversold).values())
    assert not all(race_invariants(replace(fine, negative_available_seen=True)).values())
    assert not all(race_invariants(replace(fine, refused=6, errors={"Boom": 1})).values())


@pytest.mark.every_database  # it races on the server ORDERFLOW_TEST_DATABASE_URL names
def test_the_command_reports_json_and_leaves_no_database_behind(tmp_path: Path) -> None:
    server = os.environ.get("ORDERFLOW_TEST_DATABASE_URL")
    url = server or f"sqlite:///{tmp_path / 'real.db'}"
    arguments = ["--attempts", "40", "--units", "10", "--threads", "4", "--json"]
    result = CliRunner().invoke(app, ["bench-inventory", "--database-url", url, *arguments])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    race = report["race"]
    outcome = {k: race[k] for k in ("attempts", "succeeded", "refused", "available")}
    assert outcome == {"attempts": 40, "succeeded": 10, "refused": 30, "available": 0}
    assert report["planner"]["packages"] > 0
    assert all(report["invariants"].values())
    if server:
        assert report["race_meaningful"] is True
        assert report["scratch_database"].startswith("orderflow_bench_")
        admin = create_engine(make_url(server))
        with admin.connect() as connection:
            left = connection.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"),
                {"name": report["scratch_database"]},
            )
        admin.dispose()
        assert left == 0
    else:
        assert report["race_meaningful"] is False
        assert not (tmp_path / "real.db").exists()  # the given file is never touched
        assert not Path(report["scratch_database"]).exists()


def test_the_command_refuses_a_database_it_cannot_race_on() -> None:
    result = CliRunner().invoke(
        app, ["bench-inventory", "--database-url", "mysql://somewhere/db", "--json"]
    )
    assert result.exit_code == 2
    assert "PostgreSQL" in result.output
