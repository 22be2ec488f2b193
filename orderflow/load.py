"""``orderflow load``: open-loop intake load, then proof that every accepted order completes.

Open loop: request *n* is sent at start + n / rate whether or not earlier ones answered, and
its latency counts from that moment, so a slow server cannot hide its queue (no coordinated
omission).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import asdict, dataclass
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
from temporalio.client import Client, WorkflowHandle

from config.settings import Settings
from domain.contract import order_workflow_id
from domain.messages import OrderSnapshot
from integrations.temporal import connect
from orderflow.bench import SETTLE_SECONDS, print_report, stock_up
from orderflow.credentials import tool_headers
from orderflow.customer import pay_and_ship
from orderflow.demo import demo_order
from orderflow.process_cpu import CpuMeter
from orderflow.stack import CARRIER_STANDS_STILL, scratch_stack
from workflows.order import OrderWorkflow

console = Console(stderr=True)
TARGET_P99_MS = 150.0
# Orders are waited for while the stack completes one at least this often.
STALL_SECONDS = 120.0


@dataclass
class LoadResult:
    target_rate: float
    achieved_rate: float
    sent: int
    accepted: int
    errors: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    completed: int
    # Ended some other way, or failed: the orders the target's "nothing lost" is about.
    lost: int
    # Still running when the stack had completed nothing for STALL_SECONDS: not known lost,
    # not known done (a machine too slow for the rate).
    unfinished: int
    # CPU ms per accepted order during the intake, by process, and the part that counts.
    intake_cpu_ms: dict[str, float]
    intake_own_cpu_ms: float


def run_load(settings: Settings, *, rate: float, duration: float, as_json: bool) -> int:
    count = int(rate * duration)
    console.print("starting a fresh embedded stack (Temporal dev server, localstripe, worker, API)")
    with scratch_stack(
        settings,
        confirmation_window_seconds=1,
        carrier_advance_seconds=CARRIER_STANDS_STILL,
        # One client sends every order: what is measured is intake, not the limiter.
        intake_rate_per_second=10_000,
        intake_burst=10_000,
    ) as stack:
        stock_up(stack.settings, "TEA-001", count + 1)  # and the warm-up order
        result = asyncio.run(_load(stack.settings, CpuMeter(stack), rate, count))
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    else:
        _print(result)
    return 0 if result.lost == result.unfinished == 0 and result.p99_ms < TARGET_P99_MS else 1


async def _load(settings: Settings, meter: CpuMeter, rate: float, count: int) -> LoadResult:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    accepted: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    columns = (TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    async with httpx.AsyncClient(
        base_url=settings.public_api_url,
        timeout=30,
        limits=limits,
        headers=tool_headers(settings, "orderflow-load"),
    ) as api:
        # One order first, all the way through: every process is up and has imported what
        # it needs before the idle CPU is measured and the first second is timed.
        client = await connect(settings)
        await _warm_up(client, api, settings)
        await asyncio.to_thread(meter.measure_idle)

        async def send(due: float) -> None:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            # A shopper per order: one customer may hold only so much unpaid.
            body = demo_order(f"c-load-{uuid.uuid4().hex[:12]}") | {
                "lines": [{"sku": "TEA-001", "quantity": 1}]
            }
            try:
                response = await api.post(
                    "/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
                )
                outcome = str(response.status_code)
            except httpx.HTTPError as error:
                outcome, response = type(error).__name__, None
            latencies.append(time.perf_counter() - due)
            if response is not None and response.status_code == 201:
                accepted.append(response.json())
            else:
                errors[outcome] = errors.get(outcome, 0) + 1
            progress.advance(sending)

        with Progress(*columns, console=console) as progress:
            sending = progress.add_task(f"intake at {rate:g}/s", total=count)
            before = meter.read()
            start = time.perf_counter()
            await asyncio.gather(*(send(start + n / rate) for n in range(count)))
            elapsed = time.perf_counter() - start
            await asyncio.sleep(SETTLE_SECONDS)
            intake = meter.cost(before, meter.read(), max(1, len(accepted)))
            finishing = progress.add_task("paying + shipping", total=len(accepted))
            ended = await _complete_all(client, api, settings, accepted, progress, finishing)

    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000, 1)

    return LoadResult(
        target_rate=rate,
        achieved_rate=round(count / elapsed, 1),
        sent=count,
        accepted=len(accepted),
        errors=errors,
        p50_ms=pct(0.50),
        p95_ms=pct(0.95),
        p99_ms=pct(0.99),
        completed=ended.completed,
        lost=ended.lost,
        unfinished=ended.unfinished,
        intake_cpu_ms=intake.cpu_ms,
        intake_own_cpu_ms=intake.own_cpu_ms,
    )


async def _warm_up(client: Client, api: httpx.AsyncClient, settings: Settings) -> None:
    body = demo_order("c-load-warm-up") | {"lines": [{"sku": "TEA-001", "quantity": 1}]}
    response = await api.post("/orders", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    response.raise_for_status()
    order = response.json()
    await pay_and_ship(
        api, api_key=settings.stripe_api_key, api_base=settings.stripe_api_base, order=order
    )
    handle = client.get_workflow_handle(order_workflow_id(order["id"]))
    await asyncio.wait_for(handle.result(), timeout=120)
    await asyncio.sleep(1)  # its last writes


@dataclass(frozen=True)
class Ended:
    completed: int
    lost: int
    unfinished: int


async def _complete_all(
    client: Client,
    api: httpx.AsyncClient,
    settings: Settings,
    orders: list[dict[str, Any]],
    progress: Progress,
    task: TaskID,
) -> Ended:
    """Pay and ship every accepted order as its customer and carrier would, and wait for each
    to end for as long as the stack keeps completing orders."""
    gate = asyncio.Semaphore(20)

    async def finish(order: dict[str, Any]) -> str:
        async with gate:
            await pay_and_ship(
                api, api_key=settings.stripe_api_key, api_base=settings.stripe_api_base, order=order
            )
        handle: WorkflowHandle[OrderWorkflow, OrderSnapshot] = client.get_workflow_handle_for(
            OrderWorkflow.run, order_workflow_id(order["id"])
        )
        snapshot = await handle.result()
        progress.advance(task)
        return snapshot.status

    pending = {asyncio.create_task(finish(order)) for order in orders}
    done: set[asyncio.Task[str]] = set()
    while pending:
        ended, pending = await asyncio.wait(
            pending, timeout=STALL_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
        if not ended:  # a stalled stack: what is still running stays unaccounted for
            break
        done |= ended
    for still_running in pending:
        still_running.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    completed = sum(1 for t in done if t.exception() is None and t.result() == "completed")
    return Ended(completed=completed, lost=len(done) - completed, unfinished=len(pending))


def _print(result: LoadResult) -> None:
    rows = [
        ("sent / accepted", f"{result.sent} / {result.accepted}"),
        ("achieved rate / s", f"{result.achieved_rate}"),
        ("latency p50 / p95 / p99 ms", f"{result.p50_ms} / {result.p95_ms} / {result.p99_ms}"),
        ("errors", json.dumps(result.errors) if result.errors else "none"),
        (
            "completed afterwards / lost / unfinished",
            f"{result.completed} / {result.lost} / {result.unfinished}",
        ),
        ("intake: CPU ms per order, orderflow + Temporal", f"{result.intake_own_cpu_ms}"),
        *[(f"  {role}", f"{ms}") for role, ms in result.intake_cpu_ms.items()],
    ]
    print_report(
        f"orderflow load — {result.target_rate:g} orders/s open loop",
        rows,
        {
            f"p99 < {TARGET_P99_MS:g} ms": result.p99_ms < TARGET_P99_MS,
            "no order lost": result.lost == 0,
            "every order ended": result.unfinished == 0,
        },
    )
