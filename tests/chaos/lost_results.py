"""A worker that dies after each step, once: ``LoseResults``, a worker interceptor.

Local activities report their results with the workflow task that ran them. A worker killed
after a step committed but before that task completed leaves nothing in the history: the next
worker replays the workflow and runs the step again, together with every step that ran before
it in the same task, now against a database where the later steps already happened.

``LoseResults`` does that on purpose, in-process and deterministically: the first time each
local activity (counted per workflow run, so the count survives replays) completes, it fails
the workflow task instead of handing the result to the workflow. The server hands the task
out again, the worker replays it, and the steps run again until each has been lost once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection
from typing import Any

from temporalio import workflow
from temporalio.worker import (
    Interceptor,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)


class WorkerLost(Exception):
    """Not a Temporal failure: it fails the workflow task, which the server hands out again."""


class LoseResults(Interceptor):
    """Lose the result of each local activity once (only ``activities``, when given)."""

    def __init__(self, activities: Collection[str] | None = None) -> None:
        self.activities = activities
        self.armed = True  # while False nothing is lost (a test's setup runs undisturbed)
        self.lost: Counter[str] = Counter()  # activity name: results lost
        # (workflow ID, run ID, the run's n-th local activity) already lost once. Outside the
        # workflow, so it outlives the replays that the lost results cause.
        self._done: set[tuple[str, str, int]] = set()

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        losing = self

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_Outbound(outbound, losing))

        return Inbound

    def should_lose(self, activity: str, step: tuple[str, str, int]) -> bool:
        if not self.armed or (self.activities is not None and activity not in self.activities):
            return False
        if workflow.unsafe.is_replaying() or step in self._done:
            return False  # a result from the history, or this step was lost once already
        self._done.add(step)
        self.lost[activity] += 1
        return True


class _Outbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, losing: LoseResults) -> None:
        super().__init__(next)
        self.losing = losing
        self.started = 0  # local activities this run started, replays included

    def start_local_activity(self, input: StartLocalActivityInput) -> Any:
        handle = self.next.start_local_activity(input)
        self.started += 1
        info = workflow.info()
        step = (info.workflow_id, info.run_id, self.started)

        async def result() -> Any:
            value = await handle
            if self.losing.should_lose(input.activity, step):
                raise WorkerLost(f"{input.activity} ran, then the worker died (lost on purpose)")
            return value

        # The workflow only awaits what this returns; a task in the workflow's own loop keeps
        # it deterministic, and cancelling it cancels the activity it waits for.
        return asyncio.ensure_future(result())
