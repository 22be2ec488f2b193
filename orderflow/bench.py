"""``orderflow bench``: what an order costs, in CPU per process, against a skeleton workflow.

Both run on the same embedded dev server (SQLite file), started fresh for the run. The
skeleton is the least an order-shaped workflow can cost on this Temporal server; each process's
own CPU counters say what orderflow's design adds to it, whatever the machine's mood that day.

Orders run in three phases, each measured apart: intake (``POST /orders``), paid (the shopper
pays at the provider, whose signed webhook reaches the API; the order is checked with the
provider, allocated, and its shipment buys a label), and completion (the sandbox carrier's
signed webhooks for the pickup and the delivery, as a carrier reports a parcel; a 2 s
confirmation window).

The skeletons and the orders run in rounds, a share of each per round, so that a machine
that slows down or speeds up during a run weighs on both sides of the comparison alike.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from config.settings import Settings
from domain.contract import SKELETON_TASK_QUEUE, order_workflow_id, shipment_workflow_id
from domain.messages import OrderSnapshot
from domain.shipping import TrackingStage
from integrations.temporal import connect
from orderflow.credentials import tool_headers
from orderflow.customer import pay_with_card
from orderflow.demo import demo_order
from orderflow.process_cpu import Cost, CpuMeter, add
from orderflow.stack import CARRIER_STANDS_STILL, scratch_stack
from store.db import make_engine, make_session_factory, transaction
from store.models import Shipment
from store.repositories import StockRepository
from workflows.order import OrderWorkflow
from workflows.skeleton import SkeletonWorkflow

console = Console(stderr=True)

# The window's end is a timer the dev server fires up to a second late. (Its reminders are
# the notification outbox's, which finds the order completed before they are due.)
CONFIRMATION_WINDOW_SECONDS = 2
# Stages from the order's own timeline (workflow time).
TIMELINE_STAGES = {
    "allocation": ("paid", "allocated"),
    "delivery": ("fulfilling", "delivered"),
    "confirmation": ("delivered", "completed"),
}
# CPU ms per order, orderflow's processes and the Temporal server (see process_cpu.OWN).
TARGET_INTAKE_MS = 25.0
TARGET_INTAKE_AND_PAID_MS = 85.0
TARGET_EVENTS = 50
# How long the stack may take to settle after a phase's last answer.
SETTLE_SECONDS = 0.5
# Skeletons and orders alternate in this many rounds, so that a machine whose speed drifts
# during a run weighs on both alike (docs/benchmarks.md, change 9).
ROUNDS = 4


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
class Phase:
    """One phase over every workflow: its rate and what it cost per workflow."""

    seconds: float  # from the first request until the stack was quiet again
    per_second: float
    cpu_ms: dict[str, float]
    own_cpu_ms: float

    @classmethod
    def of(cls, count: int, seconds: float, cost: Cost) -> Phase:
        return cls(round(seconds, 2), round(count / seconds, 1), cost.cpu_ms, cost.own_cpu_ms)

    @property
    def cost(self) -> Cost:
        return Cost(self.cpu_ms, self.own_cpu_ms)


@dataclass
class Tally:
    """One phase over every round: the wall seconds and the CPU seconds by role it took."""

    seconds: float = 0.0
    spent: dict[str, float] = field(default_factory=dict)

    def add(self, seconds: float, spent: Mapping[str, float]) -> None:
        self.seconds += seconds
        for role, used in spent.items():
            self.spent[role] = self.spent.get(role, 0.0) + used

    def phase(self, count: int) -> Phase:
        return Phase.of(count, self.seconds, Cost.of(self.spent, count))


@dataclass
class BenchResult:
    workflows: int
    concurrency: int
    rounds: int
    skeleton: Phase
    intake: Phase
    paid: Phase
    completion: Phase
    order: Phase  # all three
    idle_cpu_ms_per_second: dict[str, float]
    history_events: dict[str, int]  # the order's, its one shipment's
    intake_latency: Percentiles
    stages: dict[str, Percentiles] = field(default_factory=dict)
    targets: dict[str, bool] = field(default_factory=dict)


def run_bench(
    settings: Settings,
    *,
    count: int,
    concurrency: int,
    sandbox: bool,
    as_json: bool,
    rounds: int = ROUNDS,
) -> int:
    console.print(
        "starting a fresh embedded stack (Temporal dev server, localstripe, workers, API)"
    )
    with scratch_stack(
        settings,
        workers=("orders", "skeleton"),
        confirmation_window_seconds=CONFIRMATION_WINDOW_SECONDS,
        carrier_advance_seconds=CARRIER_STANDS_STILL,
        # One client sends every order: what is measured is the pipeline, not the limiter.
        intake_rate_per_second=10_000,
        intake_burst=10_000,
        workflow_sandbox=sandbox,
    ) as stack:
        stock_up(stack.settings, "TEA-001", count)
        meter = CpuMeter(stack)
        result = asyncio.run(
            _measure(stack.settings, meter, count, concurrency, min(rounds, count))
        )
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    else:
        _print(result)
    return 0 if all(result.targets.values()) else 1


class Bench:
    """One run's client: the shoppers, the carrier, and the meter between phases."""

    def __init__(
        self, settings: Settings, client: Client, meter: CpuMeter, concurrency: int
    ) -> None:
        self.settings = settings
        self.client = client
        self.meter = meter
        self.gate = asyncio.Semaphore(concurrency)
        self.shoppers = ThreadPoolExecutor(concurrency, thread_name_prefix="shopper")
        self.progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.api = httpx.AsyncClient(
            base_url=settings.public_api_url,
            timeout=60,
            # Idle between rounds: let go of a connection before the server's keep-alive of
            # 5 s does, or a request may go out on one it is closing (a ReadError).
            limits=httpx.Limits(keepalive_expiry=2.0),
            headers=tool_headers(settings, "orderflow-bench"),
        )
        self.orders: dict[int, dict[str, Any]] = {}  # by the order's number in the run
        self.intake_seconds: list[float] = []
        self.paid_at: dict[str, datetime] = {}  # the shopper's card confirmed
        self.shipped_at: dict[str, datetime] = {}  # the carrier's pickup sent
        self.snapshots: list[OrderSnapshot] = []
        self.tracking: dict[str, str] = {}  # order ID → its parcel's tracking number

    async def phase(
        self,
        tally: Tally,
        task: TaskID,
        one: Callable[[int], Awaitable[None]],
        numbers: range,
        settled: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Run ``one`` for each of this round's workflows, at most ``concurrency`` at once,
        then wait until ``settled`` says the work it set off is done; ``tally`` gets the time
        that took and the CPU it cost (read a moment later, once the stack is quiet)."""

        async def gated(n: int) -> None:
            async with self.gate:
                await one(n)
            self.progress.advance(task)

        before = self.meter.read()
        await asyncio.gather(*(gated(n) for n in numbers))
        if settled is not None:
            await settled()
        seconds = time.monotonic() - before.at
        await asyncio.sleep(SETTLE_SECONDS)
        tally.add(seconds, self.meter.spent(before, self.meter.read()))

    async def skeleton(self, n: int) -> None:
        handle = await self.client.start_workflow(
            SkeletonWorkflow.run, id=f"skeleton-{uuid.uuid4().hex}", task_queue=SKELETON_TASK_QUEUE
        )
        await handle.signal(SkeletonWorkflow.go)
        await handle.result()

    async def intake(self, n: int) -> None:
        # A shopper per order, as in a sale: one customer may hold only so much unpaid.
        body = demo_order(f"c-bench-{n}") | {"lines": [{"sku": "TEA-001", "quantity": 1}]}
        started = time.perf_counter()
        response = await self.api.post(
            "/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        self.intake_seconds.append(time.perf_counter() - started)
        response.raise_for_status()
        self.orders[n] = response.json()

    async def pay(self, n: int) -> None:
        order = self.orders[n]
        # The SDK blocks: one thread per shopper in flight (the default pool has fewer).
        await asyncio.get_running_loop().run_in_executor(
            self.shoppers,
            partial(
                pay_with_card,
                api_key=self.settings.stripe_api_key,
                api_base=self.settings.stripe_api_base,
                payment_intent_id=order["payment"]["payment_intent_id"],
            ),
        )
        self.paid_at[order["id"]] = datetime.now(UTC)

    async def labelled(self) -> None:
        """Every paid order allocated and its shipment's label bought: the phase is over."""
        engine = make_engine(self.settings.database_url)
        labelled = select(Shipment.order_id, Shipment.tracking_number).where(
            Shipment.order_id.in_([order["id"] for order in self.orders.values()]),
            Shipment.label_bought_at.is_not(None),
        )
        deadline = time.monotonic() + 120
        try:
            while True:
                with engine.connect() as connection:
                    parcels = connection.execute(labelled).all()
                if {order for order, _ in parcels} == {o["id"] for o in self.orders.values()}:
                    self.tracking = {order: str(tracking) for order, tracking in parcels}
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError("paid orders did not all reach a labelled shipment in 120 s")
                await asyncio.sleep(0.2)
        finally:
            engine.dispose()

    async def complete(self, n: int) -> None:
        order = self.orders[n]
        self.shipped_at[order["id"]] = datetime.now(UTC)
        for stage in (TrackingStage.PICKED_UP, TrackingStage.DELIVERED):
            sent = await self.api.post(
                f"{self.settings.carrier_api_base}/parcels/{self.tracking[order['id']]}/events",
                json={"stage": stage.value},
            )
            sent.raise_for_status()
            if not sent.json()["delivered"]:
                raise RuntimeError(f"the carrier's {stage} webhook was refused: {sent.text}")
        handle: WorkflowHandle[OrderWorkflow, OrderSnapshot] = self.client.get_workflow_handle_for(
            OrderWorkflow.run, order_workflow_id(order["id"])
        )
        self.snapshots.append(await asyncio.wait_for(handle.result(), timeout=120))

    async def history_events(self) -> dict[str, int]:
        """The longest history among a few orders, and among their shipments: 0 where the
        order ran its one parcel itself (no workflow of the parcel's own)."""
        sample = [order["id"] for order in list(self.orders.values())[:5]]

        async def events(workflow_id: str) -> int:
            try:
                history = await self.client.get_workflow_handle(workflow_id).fetch_history()
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                return 0
            return len(history.events)

        return {
            "order": max([await events(order_workflow_id(o)) for o in sample]),
            "shipment": max([await events(shipment_workflow_id(o, 1)) for o in sample]),
        }

    async def warm_up(self) -> None:
        """One skeleton and one order before anything is measured: every worker is up and
        has imported what it needs, every connection is open."""
        await self.skeleton(0)
        await self.intake(0)
        await self.pay(0)
        await self.labelled()
        await self.complete(0)
        self.orders, self.intake_seconds, self.snapshots = {}, [], []
        self.paid_at, self.shipped_at, self.tracking = {}, {}, {}

    def stages(self) -> dict[str, Percentiles]:
        marks = {s.order_id: {e.status.value: e.at for e in s.timeline} for s in self.snapshots}
        stages = {
            # The shopper's card confirmed → paid: includes the provider's webhook delay.
            "payment": Percentiles.of(_between(self.paid_at, marks, "paid")),
            # The carrier's pickup sent → fulfilling.
            "shipping": Percentiles.of(_between(self.shipped_at, marks, "fulfilling")),
        }
        for name, (start, end) in TIMELINE_STAGES.items():
            stages[name] = Percentiles.of(
                (at[end] - at[start]).total_seconds()
                for at in marks.values()
                if start in at and end in at
            )
        return stages


def _between(
    sent: dict[str, datetime], marks: dict[str, dict[str, datetime]], status: str
) -> list[float]:
    return [
        (marks[order][status] - at).total_seconds()
        for order, at in sent.items()
        if status in marks.get(order, {})
    ]


async def _measure(
    settings: Settings, meter: CpuMeter, count: int, concurrency: int, rounds: int
) -> BenchResult:
    client = await connect(settings)
    bench = Bench(settings, client, meter, concurrency)
    phases = {
        name: Tally()
        for name in ("skeleton workflows", "orders: intake", "orders: paid", "orders: completion")
    }
    skeletons, intakes, payments, completions = phases.values()
    async with bench.api:
        await bench.warm_up()
        await asyncio.sleep(1)  # the warm-up order's last writes
        await asyncio.to_thread(meter.measure_idle)
        with bench.progress:
            tasks = [bench.progress.add_task(name, total=count) for name in phases]
            skeleton_task, intake_task, paid_task, completion_task = tasks
            for numbers in _rounds(count, rounds):
                await bench.phase(skeletons, skeleton_task, bench.skeleton, numbers)
                await bench.phase(intakes, intake_task, bench.intake, numbers)
                await bench.phase(payments, paid_task, bench.pay, numbers, bench.labelled)
                await bench.phase(completions, completion_task, bench.complete, numbers)
    bench.shoppers.shutdown()
    skeleton, intake, paid, completion = (tally.phase(count) for tally in phases.values())
    whole = add(intake.cost, paid.cost, completion.cost)
    seconds = intake.seconds + paid.seconds + completion.seconds
    order = Phase.of(count, seconds, whole)
    events = await bench.history_events()
    intake_and_paid = round(intake.own_cpu_ms + paid.own_cpu_ms, 1)
    return BenchResult(
        workflows=count,
        concurrency=concurrency,
        rounds=rounds,
        skeleton=skeleton,
        intake=intake,
        paid=paid,
        completion=completion,
        order=order,
        idle_cpu_ms_per_second={
            role: round(rate * 1000, 1) for role, rate in meter.idle_per_second.items()
        },
        history_events=events,
        intake_latency=Percentiles.of(bench.intake_seconds),
        stages=bench.stages(),
        targets={
            "a completed order costs no more CPU than the skeleton": (
                order.own_cpu_ms <= skeleton.own_cpu_ms
            ),
            f"intake + paid <= {TARGET_INTAKE_AND_PAID_MS:g} ms CPU": (
                intake_and_paid <= TARGET_INTAKE_AND_PAID_MS
            ),
            f"intake <= {TARGET_INTAKE_MS:g} ms CPU": intake.own_cpu_ms <= TARGET_INTAKE_MS,
            f"order history events <= {TARGET_EVENTS}": events["order"] <= TARGET_EVENTS,
        },
    )


def _rounds(count: int, rounds: int) -> list[range]:
    """The workflows' numbers, cut into ``rounds`` runs of (nearly) equal size."""
    cuts = [count * r // rounds for r in range(rounds + 1)]
    return [range(start, end) for start, end in itertools.pairwise(cuts)]


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


def cpu_rows(name: str, cost: Phase) -> list[tuple[str, str]]:
    """One row for the counted total, one per process."""
    rows = [(f"{name}: CPU ms, orderflow + Temporal", f"{cost.own_cpu_ms}")]
    rows += [(f"  {role}", f"{ms}") for role, ms in cost.cpu_ms.items()]
    return rows


def _print(result: BenchResult) -> None:
    rows = [
        ("skeleton workflows / s", f"{result.skeleton.per_second}"),
        ("orders / s (phases one after another)", f"{result.order.per_second}"),
        *cpu_rows("skeleton", result.skeleton),
        *cpu_rows("intake", result.intake),
        *cpu_rows("paid", result.paid),
        *cpu_rows("completion", result.completion),
        *cpu_rows("whole order", result.order),
        (
            "history events: order / shipment",
            f"{result.history_events['order']} / {result.history_events['shipment']}",
        ),
        (
            "intake POST /orders p50 / p99 ms",
            f"{result.intake_latency.p50_ms} / {result.intake_latency.p99_ms}",
        ),
    ]
    rows += [
        (f"stage {name} p50 / p99 ms", f"{stage.p50_ms} / {stage.p99_ms}")
        for name, stage in result.stages.items()
    ]
    title = (
        f"orderflow bench — {result.workflows} workflows each, {result.concurrency} at once, "
        f"in {result.rounds} rounds, embedded dev server"
    )
    print_report(title, rows, result.targets)
