"""Crash test: a statement pull goes on from its last stored page after its worker is SIGKILLed.

The real stack runs as child processes (``ChaosStack``: Temporal dev server, localstripe, the
order worker, the API). localstripe holds a statement of many balance transactions, charges
and refunds; ``StatementPullWorkflow`` pulls it two lines a page, and the worker is killed
once a page has committed and before the pull finished. A new worker takes the retried
activity, and afterwards:

- the workflow completed, its activity on a second attempt;
- every balance transaction localstripe lists is in ``statement_lines`` exactly once;
- the pull that was cut short is the one that finished: one ``statement_pulls`` row;
- the retried attempt read only the pages after the stored cursor, not the statement again.

The pull activity's heartbeat timeout is 2 minutes, and a dead worker is noticed only when it
lapses. After the kill the test shortens it for this one activity with Temporal's
``UpdateActivityOptions`` (what ``temporal activity update-options`` does for an operator):
the server still finds the dead worker by its missing heartbeats, in seconds instead of
minutes. The workflow task that follows the activity waits 10 s more for the dead worker's
sticky queue, as it would in production.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import select
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.workflowservice.v1 import UpdateActivityOptionsRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from config.settings import Settings
from domain.contract import ORDERS_TASK_QUEUE, WorkflowName
from domain.statements import StatementPulled, StatementPullRequest
from integrations.payments.stripe import StripePayments
from integrations.temporal import connect
from orderflow.customer import pay_with_card
from orderflow.stack import LocalStack
from store.db import SessionFactory, transaction
from store.models import StatementLineRow, StatementPull
from tests.chaos.harness import WORKER, ChaosStack
from workers.schedules import PAYMENT_RECONCILIATION_SCHEDULE, STATEMENT_PULL_SCHEDULE

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

PROVIDER = "stripe"
PAYMENTS = 30
REFUNDED_EVERY = 3  # every third payment partly refunded: 40 lines in all
PAGE_SIZE = 2
# Long enough that the retried attempt, which inherits it, never misses a heartbeat between
# two pages; short enough that the dead worker is given up within seconds.
HEARTBEAT_AFTER_KILL = timedelta(seconds=5)
# Heartbeat timeout, retry, 10 s for the dead worker's sticky queue, and room to spare.
PULL_PATIENCE = 40.0


@dataclass(frozen=True)
class PullRow:
    id: int
    cursor: str | None
    finished_at: datetime | None
    lines: int

    @classmethod
    def of(cls, pull: StatementPull) -> PullRow:
        return cls(pull.id, pull.cursor, pull.finished_at, pull.lines)


def make_statement(settings: Settings, run: str) -> list[str]:
    """Payments, some partly refunded, at localstripe: the IDs of the balance transactions it
    then lists (newest first, as the pull reads them), the statement the pull must store."""
    provider = StripePayments(api_key=settings.stripe_api_key, api_base=settings.stripe_api_base)
    for number in range(PAYMENTS):
        # No order ID the API gives (a channel is lower case): its webhook is ignored.
        name = f"STATEMENT-{run}-{number}"
        intent = provider.create_payment(
            order_id=name, customer_id="c-statement", amount=1_000 + number, currency="usd"
        )
        status = pay_with_card(
            api_key=settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            payment_intent_id=intent.id,
        )
        assert status == "succeeded", f"{name}: paying gave {status}"
        if number % REFUNDED_EVERY == 0:
            provider.refund_payment(payment_id=intent.id, amount=100, idempotency_key=f"{name}-r")
    listed = provider.client.v1.balance_transactions.list({"limit": 100}).auto_paging_iter()
    return [txn.id for txn in listed]


def pull_rows(sessions: SessionFactory) -> list[PullRow]:
    with transaction(sessions) as session:
        pulls = session.scalars(
            select(StatementPull)
            .where(StatementPull.provider == PROVIDER)
            .order_by(StatementPull.id)
        )
        return [PullRow.of(pull) for pull in pulls]


def stored_lines(sessions: SessionFactory) -> list[tuple[str, int]]:
    """(line ID, pull ID) of every stored line, in the order they were stored; duplicates too."""
    with transaction(sessions) as session:
        rows = session.execute(
            select(StatementLineRow.line_id, StatementLineRow.pull_id)
            .where(StatementLineRow.provider == PROVIDER)
            .order_by(StatementLineRow.id)
        )
        return [(line_id, pull_id) for line_id, pull_id in rows]


def left_by_the_kill(sessions: SessionFactory) -> tuple[list[PullRow], list[str]]:
    """The pulls and the stored line IDs as the dead worker left them: what its retry starts
    from. On PostgreSQL the killed worker's backend may still be running a COMMIT it was
    sent; its transaction holds the pull's row lock until it ends, so ``FOR UPDATE`` waits for
    that. (On SQLite the killed process was the database engine: nothing is left in flight.)"""
    with transaction(sessions) as session:
        pulls = session.scalars(
            select(StatementPull)
            .where(StatementPull.provider == PROVIDER)
            .order_by(StatementPull.id)
            .with_for_update()
        ).all()
        # Read committed: this statement sees what that transaction, now ended, left.
        line_ids = session.scalars(
            select(StatementLineRow.line_id)
            .where(StatementLineRow.provider == PROVIDER)
            .order_by(StatementLineRow.id)
        ).all()
        return [PullRow.of(pull) for pull in pulls], list(line_ids)


def kill_the_worker_mid_pull(
    sessions: SessionFactory, stack: LocalStack, timeout: float = 30.0
) -> PullRow:
    """SIGKILL the worker as soon as the pull's row shows a committed page (its cursor set)
    and no finish. Watched and killed from one thread, with no event loop in between: the
    whole pull takes a few hundred milliseconds against localstripe."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = pull_rows(sessions)
        if rows and rows[0].finished_at is not None:
            raise AssertionError(f"the pull finished before a kill could catch it: {rows}")
        if rows and rows[0].cursor is not None:
            stack.kill(WORKER)
            return rows[0]
        time.sleep(0.002)
    raise AssertionError(f"no page of the pull committed within {timeout}s")


async def pause_scheduled_pulls(client: Client, timeout: float = 30.0) -> None:
    """The worker creates the hourly ``statement-pull`` schedule and the daily
    ``payment-reconciliation`` (which pulls first) as it starts; a run of either in this
    test would pull beside the test's own. Paused, as an operator would pause them (a
    relaunched worker leaves a paused schedule paused)."""
    deadline = time.monotonic() + timeout
    for name in (STATEMENT_PULL_SCHEDULE, PAYMENT_RECONCILIATION_SCHEDULE):
        schedule = client.get_schedule_handle(name)
        while True:
            try:
                await schedule.pause(note="statement pull crash test")
                break
            except RPCError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)


async def shorten_heartbeat_timeout(client: Client, handle: WorkflowHandle[Any, Any]) -> None:
    """The pull's activity, still started as far as the server knows, now times out after
    ``HEARTBEAT_AFTER_KILL`` without a heartbeat instead of 2 minutes."""
    pending = (await handle.describe()).raw_description.pending_activities
    assert [p.state for p in pending] == [PendingActivityState.PENDING_ACTIVITY_STATE_STARTED], (
        f"expected the pull's activity started and nothing else: {pending}"
    )
    await client.workflow_service.update_activity_options(
        UpdateActivityOptionsRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=handle.id),
            id=pending[0].activity_id,
            activity_options=ActivityOptions(
                heartbeat_timeout=Duration(seconds=int(HEARTBEAT_AFTER_KILL.total_seconds()))
            ),
            update_mask=FieldMask(paths=["heartbeat_timeout"]),
        )
    )


async def completing_attempt(handle: WorkflowHandle[Any, Any]) -> int:
    """The attempt of the pull's activity that completed (1: it was never retried)."""
    history = await handle.fetch_history()
    attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert len(attempts) == 1, f"one activity expected in the workflow, found {len(attempts)}"
    return attempts[0]


def timeline_of(stack: ChaosStack) -> str:
    """What happened when, for a failure message (the harness's own speaks of orders)."""
    events = "\n  ".join(stack.events)
    return f"statement pull crash test:\n  {events}\nstack log: {stack.log_path}"


def pages_for(lines: int) -> int:
    """Pages a pull reads for this many lines (the last one says there are no more)."""
    return max(1, math.ceil(lines / PAGE_SIZE))


# On SQLite in `make test` (the PostgreSQL pass has the cancellation crash);
# `make chaos` runs it on both.
@pytest.mark.one_database("sqlite")
async def test_a_statement_pull_killed_mid_pull_goes_on_from_its_last_stored_page(
    tmp_path: Path, database_url: str, sessions: SessionFactory
) -> None:
    run = uuid.uuid4().hex[:8]
    async with ChaosStack(tmp_path, database_url) as stack:
        statement = await asyncio.to_thread(make_statement, stack.settings, run)
        assert len(statement) == PAYMENTS + math.ceil(PAYMENTS / REFUNDED_EVERY)
        stack.note(f"{len(statement)} balance transactions at localstripe")
        client = await connect(stack.settings)
        await pause_scheduled_pulls(client)

        handle: WorkflowHandle[Any, StatementPulled] = await client.start_workflow(
            WorkflowName.STATEMENT_PULL,
            StatementPullRequest(provider=PROVIDER, page_size=PAGE_SIZE),
            id=f"statement-pull-crash-{run}",
            task_queue=ORDERS_TASK_QUEUE,
            result_type=StatementPulled,
        )
        caught = await asyncio.to_thread(kill_the_worker_mid_pull, sessions, stack.stack)
        stack.note(f"SIGKILL {WORKER} on seeing {caught}")
        rows_at_kill, stored_at_kill = await asyncio.to_thread(left_by_the_kill, sessions)
        assert len(rows_at_kill) == 1, f"one pull expected, found {rows_at_kill}"
        cut_short = rows_at_kill[0]
        assert cut_short.finished_at is None, f"the kill came after the pull finished: {cut_short}"
        stack.note(f"at the kill: {cut_short}, {len(stored_at_kill)} lines stored")

        await shorten_heartbeat_timeout(client, handle)
        await stack.launch(WORKER)
        try:
            pulled = await asyncio.wait_for(handle.result(), timeout=PULL_PATIENCE)
        except TimeoutError:
            raise AssertionError(
                f"the pull did not complete within {PULL_PATIENCE}s of the relaunch; "
                f"dead: {stack.dead() or 'none'}\n{timeline_of(stack)}"
            ) from None
        stack.note(f"pulled: {pulled}")
        attempt = await completing_attempt(handle)
        rows = await asyncio.to_thread(pull_rows, sessions)
        lines = await asyncio.to_thread(stored_lines, sessions)
    timeline = timeline_of(stack)

    # Pages commit whole, each with its cursor: what the kill left is the statement's first
    # pages, and the cursor is their last line.
    committed_pages, rest = divmod(len(stored_at_kill), PAGE_SIZE)
    assert committed_pages >= 1 and rest == 0, (
        f"{len(stored_at_kill)} lines at the kill\n{timeline}"
    )
    assert stored_at_kill == statement[: len(stored_at_kill)], timeline
    assert cut_short.cursor == stored_at_kill[-1], timeline

    assert attempt >= 2, f"the activity was never retried: nothing was cut short\n{timeline}"
    assert [row.id for row in rows] == [cut_short.id], f"pull rows {rows}\n{timeline}"
    assert rows[0].finished_at is not None and pulled.pull_id == cut_short.id, timeline
    line_ids = [line_id for line_id, _ in lines]
    assert len(line_ids) == len(set(line_ids)), f"lines stored twice\n{timeline}"
    assert set(line_ids) == set(statement), (
        f"missing {set(statement) - set(line_ids)}, unknown {set(line_ids) - set(statement)}\n"
        f"{timeline}"
    )
    assert {pull_id for _, pull_id in lines} == {cut_short.id}, timeline
    assert pulled.lines == rows[0].lines == len(statement), timeline
    # The retry read on after the cursor: only the pages the kill had not reached.
    assert pulled.pages == pages_for(len(statement) - len(stored_at_kill)), timeline
    assert pulled.pages < pages_for(len(statement)), timeline
    print(f"\n{timeline}")
