"""``orderflow bench``: order throughput measured against a skeleton workflow, in one run.

Both run on the same embedded dev server (SQLite file), started fresh for the run. The
skeleton is the least an order-shaped workflow can cost; the ratio says what orderflow's
design makes of the same machine, whatever the machine's mood that day.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client, WorkflowHandle

from config.settings import Settings
from domain.contract import SKELETON_TASK_QUEUE, order_workflow_id
from domain.messages import OrderSnapshot
from integrations.temporal import connect
from orderflow.credentials import tool_headers
from orderflow.customer import pay_and_ship
from orderflow.demo import demo_order
from orderflow.stack import CARRIER_STANDS_STILL, scratch_stack
from store.db import make_engine, make_session_factory, transaction
from store.repositories import StockRepository
from workflows.order import OrderWorkflow
from workflows.skeleton import SkeletonWorkflow

console = Console(stderr=True)

STAGES = {
    "payment": ("pending_payment", "paid"),
    "allocation": ("paid", "allocated"),
    "shipping": ("allocated", "fulfilling"),
    "delivery": ("fulfilling", "delivered"),
    "confirmation": ("delivered", "completed"),
}
TARGET_RATIO = 1.5
TARGET_EVENTS = 80


@dataclass
class Percentiles:
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Percentiles:
        values = sorted(seconds)
        if not values:
            return cls(0.0, 0.0)
        return cls(
            round(statistics.median(values) * 1000, 1),
            round(values[min(len(values) - 1, int(len(values) * 0.99))] * 1000, 1),
        )


@dataclass
class BenchResult:
    workflows: int
    skeleton_per_second: float
    orders_per_second: float
    ratio: float
    history_events_per_order: int
    intake: Percentiles
    stages: dict[str, Percentiles] = field(default_factory=dict)
    targets: dict[str, bool] = field(default_factory=dict)


def run_bench(settings: Settings, *, count: int, as_json: bool) -> int:
    console.print(
        "starting a fresh embedded stack (Temporal dev server, localstripe, workers, API)"
    )
    with scratch_stack(
        settings,
        workers=("orders", "skeleton"),
        confirmation_window_seconds=1,
        carrier_advance_seconds=CARRIER_STANDS_STILL,
        # One client sends every order: what is measured is the pipeline, not the limiter.
        intake_rate_per_second=10_000,
        intake_burst=10_000,
    ) as stack:
        stock_up(stack.settings, "TEA-001", count)
        result = asyncio.run(_measure(stack.settings, count))
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    else:
        _print(result)
    return 0 if all(result.targets.values()) else 1


async def _measure(settings: Settings, count: int) -> BenchResult:
    client = await connect(settings)
    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        skeleton_rate = await _skeletons(client, count, progress)
        orders = await _orders(client, settings, count, progress)
    intake, snapshots, orders_rate = orders
    events = await _history_events(client, [s.order_id for s in snapshots[:5]])
    stages = {
        name: Percentiles.of(_stage_seconds(snapshots, start, end))
        for name, (start, end) in STAGES.items()
    }
    ratio = round(orders_rate / skeleton_rate, 2)
    return BenchResult(
        workflows=count,
        skeleton_per_second=round(skeleton_rate, 1),
        orders_per_second=round(orders_rate, 1),
        ratio=ratio,
        history_events_per_order=events,
        intake=Percentiles.of(intake),
        stages=stages,
        targets={
            f"ratio >= {TARGET_RATIO}": ratio >= TARGET_RATIO,
            f"history events <= {TARGET_EVENTS}": events <= TARGET_EVENTS,
        },
    )


async def _skeletons(client: Client, count: int, progress: Progress) -> float:
    task = progress.add_task("skeleton workflows", total=count)
    run = uuid.uuid4().hex[:8]

    async def one(n: int) -> None:
        handle = await client.start_workflow(
            SkeletonWorkflow.run, id=f"skeleton-{run}-{n}", task_queue=SKELETON_TASK_QUEUE
        )
        await handle.signal(SkeletonWorkflow.go)
        await handle.result()
        progress.advance(task)

    return await _rate(count, one)


async def _orders(
    client: Client, settings: Settings, count: int, progress: Progress
) -> tuple[list[float], list[OrderSnapshot], float]:
    """Full orders as clients make them: intake over HTTP, a card payment at Stripe whose
    signed webhook reaches the API, the carrier's two events, a 1 s confirmation window."""
    task = progress.add_task("happy-path orders", total=count)
    intake: list[float] = []
    snapshots: list[OrderSnapshot] = []
    api = httpx.AsyncClient(
        base_url=settings.public_api_url,
        timeout=60,
        headers=tool_headers(settings, "orderflow-bench"),
    )

    async def one(n: int) -> None:
        # A shopper per order, as in a sale: one customer may hold only so much unpaid.
        body = demo_order(f"c-bench-{n}") | {"lines": [{"sku": "TEA-001", "quantity": 1}]}
        started = time.perf_counter()
        response = await api.post(
            "/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        intake.append(time.perf_counter() - started)
        response.raise_for_status()
        order = response.json()
        await pay_and_ship(
            api, api_key=settings.stripe_api_key, api_base=settings.stripe_api_base, order=order
        )
        handle: WorkflowHandle[OrderWorkflow, OrderSnapshot] = client.get_workflow_handle_for(
            OrderWorkflow.run, order_workflow_id(order["id"])
        )
        snapshots.append(await handle.result())
        progress.advance(task)

    async with api:
        rate = await _rate(count, one)
    return intake, snapshots, rate


async def _rate(count: int, one: Callable[[int], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return count / (time.perf_counter() - started)


async def _history_events(client: Client, order_ids: list[str]) -> int:
    counts = []
    for order_id in order_ids:
        history = await client.get_workflow_handle(order_workflow_id(order_id)).fetch_history()
        counts.append(len(history.events))
    return max(counts)


def _stage_seconds(snapshots: list[OrderSnapshot], start: str, end: str) -> list[float]:
    seconds = []
    for snapshot in snapshots:
        at = {entry.status.value: entry.at for entry in snapshot.timeline}
        if start in at and end in at:
            seconds.append((at[end] - at[start]).total_seconds())
    return seconds


def stock_up(settings: Settings, sku: str, units: int) -> None:
    """Enough stock that a long run measures orders, not an empty shelf."""
    engine = make_engine(settings.database_url)
    with transaction(make_session_factory(engine)) as session:
        StockRepository(session).receive(f"restock-{uuid.uuid4().hex[:8]}", sku, "HZ", units)
    engine.dispose()


def print_report(title: str, rows: list[tuple[str, str]], targets: dict[str, bool]) -> None:
    """A measure/value table, then each target as met or missed (bench and load alike)."""
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for measure, value in rows:
        table.add_row(measure, value)
    out = Console()
    out.print(table)
    for target, met in targets.items():
        out.print(f"{'met' if met else '[red]missed[/red]'}: {target}")


def _print(result: BenchResult) -> None:
    rows = [
        ("skeleton workflows / s", f"{result.skeleton_per_second}"),
        ("happy-path orders / s", f"{result.orders_per_second}"),
        ("ratio", f"{result.ratio}"),
        ("history events per order", f"{result.history_events_per_order}"),
        ("intake POST /orders p50 / p99 ms", f"{result.intake.p50_ms} / {result.intake.p99_ms}"),
    ]
    rows += [
        (f"stage {name} p50 / p99 ms", f"{stage.p50_ms} / {stage.p99_ms}")
        for name, stage in result.stages.items()
    ]
    title = f"orderflow bench — {result.workflows} workflows each, embedded dev server"
    print_report(title, rows, result.targets)
