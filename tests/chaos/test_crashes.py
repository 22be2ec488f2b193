"""Crash tests: orders keep flowing while the worker, Temporal or the database goes away.

Each scenario runs the real stack as child processes, places ``ORDERFLOW_CHAOS_ORDERS`` orders
through the HTTP API (paid at localstripe, shipped, delivered) and breaks something on the way.
Afterwards every order must be completed with one entry per state on its timeline, charged
exactly once (one PaymentIntent at the provider, one row in ``payments``), and the stock
ledger must balance with nothing left reserved.

``make test`` runs a small version; ``make chaos`` the full one (200 orders, a 30 s outage).
"""

from __future__ import annotations

import asyncio
import time
import warnings
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from store.db import SessionFactory
from tests.chaos.harness import (
    API,
    CHAOS_ORDERS,
    OUTAGE_SECONDS,
    TEMPORAL,
    WORKER,
    ChaosStack,
    Ending,
    OrderDriver,
    TcpProxy,
    chaos_random,
    outcome_problems,
    recoveries,
    report,
    together,
)

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def completion_timeout(outages: float = 0.0) -> float:
    """Generous: a step cut short is retried after a task timeout or a backoff of up to 1 min."""
    return 120.0 + 0.5 * CHAOS_ORDERS + 3 * outages


async def finish(
    driver: OrderDriver, stack: ChaosStack, sessions: SessionFactory, outages: float = 0.0
) -> None:
    """Wait for every order to end as the driver ends it, then check that nothing was lost
    or doubled."""
    await driver.wait_until_completed(sessions, stack, timeout=completion_timeout(outages))
    stack.note(f"every order {driver.ending}")
    cost = await recoveries(stack, driver.placed)
    stack.note(f"recovered from: {', '.join(f'{n} x {what}' for what, n in cost.items()) or '-'}")
    problems = await outcome_problems(sessions, stack.settings, driver.placed, driver.ending)
    assert not problems, report(problems, stack)
    print(f"\n{stack.describe()}\nclient retries: {dict(driver.retries) or 'none'}")


async def wait_healthy(stack: ChaosStack, part: str, timeout: float = 60.0) -> None:
    """Until /healthz says ``part`` is ok again: the API found its way back by itself."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.settings.public_api_url, timeout=5) as api:
        while time.monotonic() - started < timeout:
            try:
                if (await api.get("/healthz")).json().get(part) == "ok":
                    stack.note(f"API sees {part} again after {time.monotonic() - started:.1f}s")
                    return
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the API did not see {part} again within {timeout}s\n{stack.describe()}")


# Each crash runs on one database in `make test`, all of them on both in `make chaos`.
@pytest.mark.one_database("sqlite")
async def test_every_order_completes_once_though_the_worker_is_killed_at_random_moments(
    tmp_path: Path, database_url: str, sessions: SessionFactory
) -> None:
    rng = chaos_random("worker")
    kills = sorted(rng.sample(range(1, CHAOS_ORDERS + 1), k=max(2, CHAOS_ORDERS // 25)))
    async with ChaosStack(tmp_path, database_url) as stack:
        driver = OrderDriver(stack.settings, CHAOS_ORDERS, rng)

        async def chaos() -> None:
            for placed in kills:
                await driver.placed_at_least(placed)
                await asyncio.sleep(rng.uniform(0.0, 1.0))
                await stack.kill(WORKER)
                await asyncio.sleep(rng.uniform(0.2, 2.0))
                await stack.launch(WORKER)

        await together(driver.place_all(), chaos())
        await finish(driver, stack, sessions)


# In the SQLite pass of `make test`, which runs on both cores; `make chaos` runs it on
# PostgreSQL at full size.
@pytest.mark.one_database("sqlite")
async def test_every_cancellation_compensates_once_though_the_worker_dies_inside_it(
    tmp_path: Path, database_url: str, sessions: SessionFactory
) -> None:
    """The saga backwards: paid and allocated orders cancelled while the worker is killed
    again and again, in the middle of refunds and releases. Each order ends cancelled with
    its money back once, in full (ledger and provider agree), and its stock released once."""
    rng = chaos_random("compensation")
    kills = sorted(rng.sample(range(1, CHAOS_ORDERS + 1), k=max(2, CHAOS_ORDERS // 25)))
    async with ChaosStack(tmp_path, database_url) as stack:
        driver = OrderDriver(stack.settings, CHAOS_ORDERS, rng, ending=Ending.CANCELLED)

        async def chaos() -> None:
            for placed in kills:
                await driver.placed_at_least(placed)
                await asyncio.sleep(rng.uniform(0.5, 2.0))  # cancellations under way
                await stack.kill(WORKER)
                await asyncio.sleep(rng.uniform(0.2, 2.0))
                await stack.launch(WORKER)

        await together(driver.place_all(), chaos())
        await finish(driver, stack, sessions)


# In the SQLite pass of `make test`, which runs on both cores; `make chaos` runs it on
# PostgreSQL at full size.
@pytest.mark.one_database("sqlite")
async def test_every_order_completes_once_though_the_temporal_server_restarts_mid_run(
    tmp_path: Path, database_url: str, sessions: SessionFactory
) -> None:
    rng = chaos_random("temporal")
    restarts = max(1, CHAOS_ORDERS // 100)
    moments = sorted(rng.sample(range(CHAOS_ORDERS // 4, CHAOS_ORDERS * 3 // 4), k=restarts))
    async with ChaosStack(tmp_path, database_url) as stack:
        driver = OrderDriver(stack.settings, CHAOS_ORDERS, rng)

        async def chaos() -> None:
            for number, placed in enumerate(moments):
                await driver.placed_at_least(placed)
                await asyncio.sleep(rng.uniform(0.0, 1.0))
                # Same SQLite file, same port: the server comes back with its history. The
                # clients' own retries hide a few seconds; later restarts take longer.
                await stack.kill(TEMPORAL)
                await asyncio.sleep(rng.uniform(1.0, 3.0) if number == 0 else rng.uniform(5, 15))
                await stack.launch(TEMPORAL)
                await wait_healthy(stack, "temporal")
                await asyncio.sleep(2.0)
                # The worker and the API are meant to reconnect on their own; if one died of
                # the lost server, say so and start it again.
                for part in (WORKER, API):
                    if not stack.stack.child(part).running:
                        warnings.warn(f"{part} died when Temporal restarted", stacklevel=1)
                        stack.note(f"{part} had died")
                        await stack.launch(part)

        await together(driver.place_all(), chaos())
        await finish(driver, stack, sessions)


async def test_every_order_completes_once_though_the_database_is_unreachable_for_a_while(
    tmp_path: Path, database_url: str, engine: Engine, sessions: SessionFactory
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip(
            "the database outage runs on PostgreSQL (ORDERFLOW_TEST_DATABASE_URL): a SQLite "
            "file cannot be made unreachable to processes that have it open"
        )
    rng = chaos_random("database")
    proxy = TcpProxy.to_database(database_url)
    proxy.plug()
    try:
        async with ChaosStack(tmp_path, proxy.address_of(database_url)) as stack:
            driver = OrderDriver(stack.settings, CHAOS_ORDERS, rng)

            async def chaos() -> None:
                await driver.placed_at_least(rng.randint(CHAOS_ORDERS // 4, CHAOS_ORDERS // 2))
                await asyncio.sleep(rng.uniform(0.0, 1.0))
                proxy.unplug()
                stack.note(f"database unplugged for {OUTAGE_SECONDS:.0f}s")
                async with httpx.AsyncClient(base_url=stack.settings.public_api_url) as api:
                    health = (await api.get("/healthz", timeout=10)).json()
                assert health["database"] == "down", f"the outage is not one: {health}"
                await asyncio.sleep(OUTAGE_SECONDS)
                proxy.plug()
                stack.note("database plugged in again")
                await wait_healthy(stack, "database")

            await together(driver.place_all(), chaos())
            await finish(driver, stack, sessions, outages=OUTAGE_SECONDS)
    finally:
        proxy.unplug()
