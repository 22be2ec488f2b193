"""The benchmark's yardstick: the least a Temporal workflow of an order's shape can do.

It waits for one signal, runs eight no-op activities, sleeps one second. Order throughput is
reported as a ratio to this, measured in the same run on the same server.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from domain.contract import WorkflowName
from domain.steps import NOOP


@workflow.defn(name=WorkflowName.SKELETON)
class SkeletonWorkflow:
    def __init__(self) -> None:
        self.signalled = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.signalled)
        for _ in range(8):
            await workflow.execute_activity(NOOP, start_to_close_timeout=timedelta(seconds=30))
        await workflow.sleep(timedelta(seconds=1))

    @workflow.signal
    def go(self) -> None:
        self.signalled = True
