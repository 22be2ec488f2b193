"""The worker's Temporal Schedules on the real dev server: it puts them in place and keeps
them up to date with the settings (leaving an operator's pause alone). Each run of
``sla-statistics`` recomputes the stage statistics new shipments take their limits from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from config.settings import Settings
from domain.sla import Stage, StageStatistics
from integrations.payments.stripe import StripePayments
from orderflow.cli import app
from orderflow.schedules import described, trigger
from store.db import SessionFactory, transaction
from store.repositories import SlaStatisticsRepository
from tests.store.stamped_parcels import picked_in
from workers.main import build_worker, ensure_schedules
from workers.schedules import (
    EVERY_SCHEDULE,
    NIGHTLY_EXPORT_SCHEDULE,
    NOTIFICATION_OUTBOX_SCHEDULE,
    PAYMENT_RECONCILIATION_SCHEDULE,
    RECONCILIATION_REPORT_SCHEDULE,
    SLA_STATISTICS_SCHEDULE,
    STATEMENT_PULL_SCHEDULE,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(dev_server_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    client = dev_server_env.client
    yield client
    for schedule_id in EVERY_SCHEDULE:
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except RPCError:
            pass  # the test failed before creating it


async def test_the_worker_keeps_the_schedule_and_its_runs_recompute_the_statistics(
    client: Client,
    sessions: SessionFactory,
    payments: StripePayments,
    activity_executor: ThreadPoolExecutor,
    task_queue: str,
    settings: Settings,
) -> None:
    await ensure_schedules(client, settings, task_queue)
    schedule = client.get_schedule_handle(SLA_STATISTICS_SCHEDULE)
    described = await schedule.describe()
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(hours=1)]
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("SlaStatisticsWorkflow", task_queue)
    outbox = await client.get_schedule_handle(NOTIFICATION_OUTBOX_SCHEDULE).describe()
    assert [i.every for i in outbox.schedule.spec.intervals] == [timedelta(minutes=1)]
    assert isinstance(outbox.schedule.action, ScheduleActionStartWorkflow)
    assert outbox.schedule.action.workflow == "NotificationOutboxWorkflow"
    statement = await client.get_schedule_handle(STATEMENT_PULL_SCHEDULE).describe()
    assert [i.every for i in statement.schedule.spec.intervals] == [timedelta(hours=1)]
    assert isinstance(statement.schedule.action, ScheduleActionStartWorkflow)
    assert statement.schedule.action.workflow == "StatementPullWorkflow"

    # An operator paused it; a restarted worker with new settings keeps the pause.
    await schedule.pause(note="warehouse move")
    changed = settings.model_copy(update={"sla_statistics_every_minutes": 15})
    await ensure_schedules(client, changed, task_queue)
    described = await schedule.describe()
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(minutes=15)]
    assert described.schedule.state.paused and described.schedule.state.note == "warehouse move"

    # Triggered by hand (as from the UI): one run writes every stage's statistics.
    picked_in(sessions, [10, 14], ended_ago=timedelta(hours=1))
    worker = build_worker(
        client, sessions=sessions, payments=payments, executor=activity_executor,
        task_queue=task_queue,
    )  # fmt: skip
    async with worker:
        await schedule.trigger()
        run_id = await _first_run(client)
        handle = client.get_workflow_handle(run_id, result_type=list[StageStatistics])
        result = await handle.result()
    assert [s.stage for s in result] == list(Stage)
    with transaction(sessions) as session:
        stored = SlaStatisticsRepository(session).all()
    assert {s.stage: s.samples for s in stored} == dict.fromkeys(Stage, 0) | {Stage.PICK: 2}
    assert next(s for s in stored if s.stage == Stage.PICK).mean == timedelta(minutes=12)


async def _first_run(client: Client) -> str:
    schedule = client.get_schedule_handle(SLA_STATISTICS_SCHEDULE)
    for _ in range(200):
        actions = (await schedule.describe()).info.recent_actions
        if actions:
            return actions[0].action.workflow_id
        await asyncio.sleep(0.05)
    raise AssertionError("the triggered run never started")


async def test_the_reconciliation_schedules_are_listed_and_triggered_as_operators_see_them(
    client: Client, task_queue: str, settings: Settings
) -> None:
    await ensure_schedules(client, settings, task_queue)
    payments = await client.get_schedule_handle(PAYMENT_RECONCILIATION_SCHEDULE).describe()
    [daily] = payments.schedule.spec.calendars
    assert [r.start for r in daily.hour] == [settings.payment_reconciliation_hour_utc]
    report = await client.get_schedule_handle(RECONCILIATION_REPORT_SCHEDULE).describe()
    [monthly] = report.schedule.spec.calendars
    assert [r.start for r in monthly.day_of_month] == [1]
    assert isinstance(report.schedule.action, ScheduleActionStartWorkflow)
    assert report.schedule.action.workflow == "ReconciliationReportWorkflow"
    await client.get_schedule_handle(STATEMENT_PULL_SCHEDULE).pause(note="provider outage")

    listed = {row.name: row for row in await described(client)}
    await trigger(client, RECONCILIATION_REPORT_SCHEDULE)

    # Every schedule the worker keeps (no nightly export: no one to mail it to).
    assert list(listed) == [name for name in EVERY_SCHEDULE if name != NIGHTLY_EXPORT_SCHEDULE]
    assert listed[STATEMENT_PULL_SCHEDULE].paused
    assert listed[STATEMENT_PULL_SCHEDULE].note == "provider outage"
    assert listed[PAYMENT_RECONCILIATION_SCHEDULE].workflow == "ReconciliationWorkflow"
    assert all(row.next_run is not None for row in listed.values() if not row.paused)
    for _ in range(200):
        if (
            await client.get_schedule_handle(RECONCILIATION_REPORT_SCHEDULE).describe()
        ).info.num_actions:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the triggered report never started")
    refused = CliRunner().invoke(app, ["schedules", "trigger", "statement-pul"])
    assert refused.exit_code == 2 and "no schedule 'statement-pul'" in refused.output
