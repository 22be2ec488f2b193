"""``orderflow bench-inventory``: the split planner's speed and the reservation race, in one run.

1. The planner (``domain.splitting.plan_packages``) on a generated 50-line order over 20
   warehouses: varied weights, cold-chain and fragile goods, high-value lines, and lines that
   no single warehouse holds whole, so the shortage rule splits them.
2. The race: one fresh SKU with exactly ``units`` units in one warehouse, and ``attempts``
   one-unit reservations (each its own order, one package) fired at once from a thread pool,
   each in its own transaction through ``StockRepository.reserve_packages``, as the order
   workflow's activity does it. A sampler thread reads the stock level throughout.

The race never runs against real data: on PostgreSQL it gets a scratch database
``orderflow_bench_<hex>`` on the server it is given, migrated for the run and dropped after;
on SQLite a temporary file (where it proves little: SQLite lets one writer in at a time).
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from domain.errors import StockMoved
from domain.rules import SplitRules
from domain.splitting import (
    GeoPoint,
    Package,
    PackageLine,
    PlanLine,
    SplitPlan,
    WarehouseStock,
    great_circle_km,
    plan_packages,
)
from orderflow.bench import print_report
from store.db import make_engine, make_session_factory, transaction
from store.migrate import upgrade
from store.models import Product, StockLevel, StockMovement, Warehouse
from store.repositories import CatalogRepository, StockRepository

console = Console(stderr=True)

PLANNER_SEED = 20261125
PLANNER_LINES = 50
PLANNER_WAREHOUSES = 20
PLANNER_RUNS = 200
SHANGHAI = GeoPoint(lat=31.23, lon=121.47)
RACE_WAREHOUSE = "BENCH"


# --- results ---------------------------------------------------------------------------------


@dataclass
class PlannerResult:
    lines: int
    warehouses: int
    runs: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    packages: int
    warehouses_used: int
    lines_split_by_shortage: int  # lines no single warehouse held whole, taken in parts
    cold_chain_packages: int
    fragile_packages: int
    insured_packages: int
    shortages: int


@dataclass
class RaceResult:
    database: str  # postgresql | sqlite
    attempts: int
    units: int
    threads: int
    succeeded: int
    refused: int  # StockMoved: the units were gone
    errors: dict[str, int]  # anything else, by exception class; must stay empty
    on_hand: int
    reserved: int
    available: int
    samples: int  # reads of the stock level during the race
    levels_seen: int  # distinct available values the samples saw: the race was watched live
    lowest_available_seen: int
    negative_available_seen: bool
    ledger_reserve_rows: int
    ledger_reserved_units: int
    wall_seconds: float
    attempts_per_second: float
    attempt_p50_ms: float
    attempt_p99_ms: float


@dataclass
class InventoryBenchResult:
    planner: PlannerResult
    race: RaceResult
    race_meaningful: bool  # False on SQLite: one writer at a time, no row-level race
    scratch_database: str  # the database the race ran in, gone by the time this prints
    invariants: dict[str, bool] = field(default_factory=dict)


# --- the command -----------------------------------------------------------------------------


def run_bench_inventory(
    database_url: str, *, attempts: int, units: int, threads: int, as_json: bool
) -> int:
    planner = measure_planner()
    with scratch_database(database_url) as (url, name):
        dialect = make_url(url).get_backend_name()
        if dialect == "sqlite":
            console.print(
                "[yellow]SQLite lets one writer in at a time, so this race is not meaningful "
                "here; give --database-url postgresql+psycopg2://… for the real one[/yellow]"
            )
        columns = (
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("reservation race", total=attempts)
            race = measure_race(
                url,
                attempts=attempts,
                units=units,
                threads=threads,
                on_attempt=lambda: progress.advance(task),
            )
    result = InventoryBenchResult(
        planner=planner,
        race=race,
        race_meaningful=dialect == "postgresql",
        scratch_database=name,
        invariants=race_invariants(race),
    )
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    else:
        _print(result)
    return 0 if all(result.invariants.values()) else 1


def unusable_database_url(url: str) -> str | None:
    """Why the race cannot run beside this URL, or None when it can."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        return f"not a database URL: {url!r}"
    if backend not in ("postgresql", "sqlite"):
        return f"bench-inventory runs on PostgreSQL (or SQLite), not {backend}"
    return None


@contextmanager
def scratch_database(server_url: str) -> Iterator[tuple[str, str]]:
    """A new, migrated database beside the one ``server_url`` names, dropped afterwards:
    yields its URL and name. For a SQLite URL, a temporary file instead of the named one."""
    server = make_url(server_url)
    backend = server.get_backend_name()
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="orderflow_bench_") as directory:
            path = Path(directory) / "inventory.db"
            url = f"sqlite:///{path}"
            console.print(f"scratch SQLite database {path} (removed afterwards)")
            upgrade(url)
            yield url, str(path)
        return
    if backend != "postgresql":
        raise ValueError(f"bench-inventory runs on PostgreSQL or SQLite, not {backend}")
    name = f"orderflow_bench_{uuid.uuid4().hex[:8]}"
    where = f"{server.host or 'localhost'}:{server.port or 5432}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        console.print(f"scratch database {name} on {where} (dropped afterwards)")
        try:
            url = server.set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            yield url, name
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# --- 1. the split planner --------------------------------------------------------------------


def planner_scenario(
    seed: int = PLANNER_SEED, lines: int = PLANNER_LINES, warehouses: int = PLANNER_WAREHOUSES
) -> tuple[list[PlanLine], GeoPoint, list[WarehouseStock]]:
    """A deterministic order and the stock it plans against (the same seed, the same data).

    Every fifth line is one that no warehouse holds whole: its nearest holder has part of it
    and farther ones the rest, so the planner's shortage rule moves the short part.
    """
    rng = random.Random(seed)
    sites = [
        WarehouseStock(
            code=f"W{n:02d}",
            location=GeoPoint(
                lat=round(rng.uniform(18, 45), 2), lon=round(rng.uniform(98, 128), 2)
            ),
            available={},
        )
        for n in range(warehouses)
    ]
    near_first = sorted(sites, key=lambda w: great_circle_km(SHANGHAI, w.location))
    order: list[PlanLine] = []
    for n in range(lines):
        sku = f"SKU-{n:03d}"
        short = n % 5 == 0
        weight = rng.choice(
            [rng.randint(20, 400), rng.randint(400, 2_000), rng.randint(2_000, 9_000)]
        )
        price = rng.randint(20_000, 90_000) if rng.random() < 0.1 else rng.randint(200, 5_000)
        quantity = rng.randint(4, 9) if short else rng.randint(1, 6)
        order.append(
            PlanLine(
                sku=sku,
                quantity=quantity,
                unit_price=price,
                weight_grams=weight,
                cold_chain=rng.random() < 0.15,
                fragile=rng.random() < 0.2,
            )
        )
        if short:
            # Nearest holder (one of the three nearest) has part; two farther ones the rest.
            first = rng.randrange(3)
            holders = [near_first[first], *rng.sample(near_first[first + 1 :], 2)]
            part = rng.randint(1, quantity - 2)
            rest = quantity - part
            holders[0].available[sku] = part
            holders[1].available[sku] = rest - 1
            holders[2].available[sku] = rest - 1 + rng.randint(0, 1)
        else:
            for site in rng.sample(sites, rng.randint(1, 4)):
                site.available[sku] = rng.choice([quantity - 1, quantity, quantity + 20])
    for site in sites:
        site.available = {sku: units for sku, units in site.available.items() if units > 0}
    return order, SHANGHAI, sites


def measure_planner(runs: int = PLANNER_RUNS, seed: int = PLANNER_SEED) -> PlannerResult:
    lines, destination, warehouses = planner_scenario(seed)
    rules = SplitRules()
    plan = plan_packages(lines, destination, warehouses, rules)  # also warms up
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        plan_packages(lines, destination, warehouses, rules)
        seconds.append(time.perf_counter() - started)
    p50, p99 = _percentiles(seconds)
    return PlannerResult(
        lines=len(lines),
        warehouses=len(warehouses),
        runs=runs,
        p50_ms=p50,
        p99_ms=p99,
        mean_ms=round(statistics.fmean(seconds) * 1000, 3),
        packages=len(plan.packages),
        warehouses_used=len({p.warehouse for p in plan.packages}),
        lines_split_by_shortage=_lines_split_by_shortage(plan),
        cold_chain_packages=sum(p.cold_chain for p in plan.packages),
        fragile_packages=sum(p.fragile for p in plan.packages),
        insured_packages=sum(p.insured for p in plan.packages),
        shortages=len(plan.shortages),
    )


def _lines_split_by_shortage(plan: SplitPlan) -> int:
    return len(
        {
            line.sku
            for package in plan.packages
            for line in package.lines
            for reason in package.reasons
            if f"{line.sku} short at" in reason
        }
    )


def _percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds, to the microsecond."""
    values = sorted(seconds)
    if not values:
        return 0.0, 0.0
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return round(statistics.median(values) * 1000, 3), round(p99 * 1000, 3)


# --- 2. the reservation race -----------------------------------------------------------------


def measure_race(
    url: str,
    *,
    attempts: int,
    units: int,
    threads: int,
    on_attempt: Callable[[], None] | None = None,
) -> RaceResult:
    """``attempts`` one-unit reservations for a SKU with ``units`` units, ``threads`` at once.

    ``url`` must be a migrated database; the race adds a warehouse ``BENCH`` and a new SKU.
    """
    if units < 1 or attempts < 1 or threads < 1:
        raise ValueError("attempts, units and threads must each be at least 1")
    engine = _race_engine(url, threads)
    sessions = make_session_factory(engine)
    run = uuid.uuid4().hex[:8]
    sku = f"RACE-{run}"
    try:
        with transaction(sessions) as session:
            catalog = CatalogRepository(session)
            catalog.upsert_warehouse(
                Warehouse(code=RACE_WAREHOUSE, name="Benchmark warehouse", lat=30.27, lon=120.15)
            )
            catalog.upsert_product(
                Product(sku=sku, name="Benchmark race item", price=1000, currency="usd",
                        weight_grams=100, cold_chain=False, fragile=False)
            )  # fmt: skip
            session.flush()
            StockRepository(session).receive(f"bench-{run}", sku, RACE_WAREHOUSE, units)

        package = Package(
            number=1,
            warehouse=RACE_WAREHOUSE,
            lines=[PackageLine(sku=sku, quantity=1)],
            reasons=["benchmark"],
            weight_grams=100,
            value=1000,
        )

        def attempt(n: int) -> tuple[str, float]:
            started = time.perf_counter()
            try:
                with transaction(sessions) as session:
                    StockRepository(session).reserve_packages(f"race-{run}-{n}", 1, [package])
                outcome = "succeeded"
            except StockMoved:
                outcome = "refused"
            except Exception as error:  # counted and reported: any of these fails the run
                outcome = type(error).__name__
            elapsed = time.perf_counter() - started
            if on_attempt is not None:
                on_attempt()
            return outcome, elapsed

        sampler = _Sampler(engine, sku)
        sampler.start()
        started = time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=threads)
        try:
            results = list(pool.map(attempt, range(attempts)))
            wall = time.perf_counter() - started
        finally:
            pool.shutdown(cancel_futures=True)  # Ctrl-C: the queued attempts never start
            sampler.stop()

        with transaction(sessions) as session:
            level = StockRepository(session).level(sku, RACE_WAREHOUSE)
            assert level is not None
            rows, reserved_units = session.execute(
                select(func.count(), func.coalesce(func.sum(StockMovement.quantity), 0)).where(
                    StockMovement.sku == sku, StockMovement.kind == "reserve"
                )
            ).one()
            on_hand, reserved = level.on_hand, level.reserved
    finally:
        dialect = engine.dialect.name
        engine.dispose()

    outcomes = Counter(outcome for outcome, _ in results)
    if sampler.error:
        outcomes[sampler.error] += 1
    p50, p99 = _percentiles([seconds for _, seconds in results])
    return RaceResult(
        database=dialect,
        attempts=attempts,
        units=units,
        threads=threads,
        succeeded=outcomes.pop("succeeded", 0),
        refused=outcomes.pop("refused", 0),
        errors=dict(outcomes),
        on_hand=on_hand,
        reserved=reserved,
        available=on_hand - reserved,
        samples=sampler.samples,
        levels_seen=len(sampler.levels),
        lowest_available_seen=sampler.lowest_available if sampler.samples else on_hand - reserved,
        negative_available_seen=sampler.lowest_available < 0,
        ledger_reserve_rows=int(rows),
        ledger_reserved_units=int(reserved_units),
        wall_seconds=round(wall, 3),
        attempts_per_second=round(attempts / wall, 1),
        attempt_p50_ms=p50,
        attempt_p99_ms=p99,
    )


def race_invariants(race: RaceResult) -> dict[str, bool]:
    """What must hold after any race, however fast or slow it ran."""
    expected = min(race.attempts, race.units)
    return {
        f"succeeded = {expected}": race.succeeded == expected,
        f"refused = {race.attempts - expected}, no other errors": (
            race.refused == race.attempts - expected and not race.errors
        ),
        f"final on hand {race.units}, reserved {expected}, available {race.units - expected}": (
            (race.on_hand, race.reserved, race.available)
            == (race.units, expected, race.units - expected)
        ),
        "no sample saw available < 0": not race.negative_available_seen,
        f"ledger reserve rows = {expected}, units = {expected}": (
            race.ledger_reserve_rows == race.ledger_reserved_units == expected
        ),
    }


def _race_engine(url: str, threads: int) -> Engine:
    """PostgreSQL: a pool with a connection for every thread and one for the sampler. SQLite:
    orderflow's own engine (WAL, busy timeout); its writers queue on the file lock anyway."""
    if make_url(url).get_backend_name() == "sqlite":
        return make_engine(url)
    return create_engine(url, pool_size=threads + 1, max_overflow=0, pool_pre_ping=True)


class _Sampler(threading.Thread):
    """Reads the stock level over and over while the race runs, as a dashboard would."""

    def __init__(self, engine: Engine, sku: str) -> None:
        super().__init__(name="stock-sampler", daemon=True)
        self.engine = engine
        self.sku = sku
        self.samples = 0
        self.lowest_available: int = 2**31
        self.levels: set[int] = set()
        self.error: str | None = None
        self._stopping = threading.Event()

    def run(self) -> None:
        query = select(StockLevel.on_hand, StockLevel.reserved).where(
            StockLevel.sku == self.sku, StockLevel.warehouse == RACE_WAREHOUSE
        )
        try:
            with self.engine.connect() as connection:
                while True:
                    on_hand, reserved = connection.execute(query).one()
                    connection.rollback()  # a fresh snapshot for the next read
                    self.samples += 1
                    self.levels.add(on_hand - reserved)
                    self.lowest_available = min(self.lowest_available, on_hand - reserved)
                    if self._stopping.wait(0.002):
                        return
        except Exception as error:  # reported with the attempts' errors: it fails the run
            self.error = f"sampler {type(error).__name__}"

    def stop(self) -> None:
        self._stopping.set()
        self.join()


# --- report ----------------------------------------------------------------------------------


def _print(result: InventoryBenchResult) -> None:
    planner, race = result.planner, result.race
    ms = f"{planner.p50_ms:.3f} / {planner.p99_ms:.3f} / {planner.mean_ms:.3f}"
    rows = [
        ("planner order", f"{planner.lines} lines, {planner.warehouses} warehouses"),
        (f"planner p50 / p99 / mean ms ({planner.runs} runs)", ms),
        (
            "planner packages (warehouses used)",
            f"{planner.packages} ({planner.warehouses_used})",
        ),
        (
            "  cold chain / fragile / insured packages",
            f"{planner.cold_chain_packages} / {planner.fragile_packages} / "
            f"{planner.insured_packages}",
        ),
        (
            "  lines split by shortage / unfilled",
            f"{planner.lines_split_by_shortage} / {planner.shortages}",
        ),
        (
            "race database",
            race.database + ("" if result.race_meaningful else " (not meaningful)"),
        ),
        ("race attempts / units / threads", f"{race.attempts} / {race.units} / {race.threads}"),
        (
            "succeeded / refused / errors",
            f"{race.succeeded} / {race.refused} / {sum(race.errors.values())}",
        ),
        (
            "final on hand / reserved / available",
            f"{race.on_hand} / {race.reserved} / {race.available}",
        ),
        (
            "samples / levels seen / lowest available",
            f"{race.samples} / {race.levels_seen} / {race.lowest_available_seen}",
        ),
        (
            "ledger reserve rows / units",
            f"{race.ledger_reserve_rows} / {race.ledger_reserved_units}",
        ),
        ("wall s / attempts per s", f"{race.wall_seconds} / {race.attempts_per_second}"),
        ("attempt p50 / p99 ms", f"{race.attempt_p50_ms:.1f} / {race.attempt_p99_ms:.1f}"),
    ]
    if race.errors:
        rows.append(("errors", ", ".join(f"{k}: {v}" for k, v in race.errors.items())))
    title = "orderflow bench-inventory — split planner and reservation race"
    print_report(title, rows, result.invariants)
