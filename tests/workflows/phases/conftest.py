"""A worker per test on the module's time-skipping server: the real OrderWorkflow, the fake
activities and the fake shipment, on a task queue of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import end_started
from tests.workflows.phases.support import FakeActivities, Shop, order_worker


@pytest.fixture
def fakes() -> FakeActivities:
    return FakeActivities()


@pytest.fixture
async def shop(
    time_skipping_env: WorkflowEnvironment, fakes: FakeActivities
) -> AsyncIterator[Shop]:
    worker = order_worker(time_skipping_env.client, fakes)
    async with worker:
        shop = Shop(time_skipping_env, worker.task_queue, fakes)
        yield shop
        # A workflow left waiting would keep the server from skipping time in the next test.
        await end_started(time_skipping_env.client, shop.started)
