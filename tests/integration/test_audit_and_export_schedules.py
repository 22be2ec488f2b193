"""The audit log's purge and the nightly export as Temporal Schedules on the real dev server:
the worker puts them in place, a run of each does its work, and the nightly export is off
without an address to mail it to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleRange
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.audit_log import AuditLogPurged
from domain.exports import NIGHTLY_REQUESTER, ExportStatus, NightlyExportNotice
from domain.reconciliation import RunSummary
from integrations.notifications.mail import MailNotifier
from integrations.notifications.mail_sink import Collector
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory, transaction
from store.exports import ExportRepository
from workers.main import build_worker, ensure_schedules
from workers.schedules import (
    AUDIT_LOG_PURGE_SCHEDULE,
    EVERY_SCHEDULE,
    NIGHTLY_EXPORT_SCHEDULE,
    STOCK_RECONCILIATION_SCHEDULE,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")
FINANCE = "finance@shop.example"
LINKS = "https://orders.shop.example"


@pytest.fixture
async def client(dev_server_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    client = dev_server_env.client
    yield client
    for schedule_id in EVERY_SCHEDULE:
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except RPCError:
            pass  # never created, or the test removed it


async def test_the_worker_keeps_the_purge_and_the_nightly_export_and_their_runs_work(
    client: Client,
    sessions: SessionFactory,
    payments: StripePayments,
    activity_executor: ThreadPoolExecutor,
    task_queue: str,
    settings: Settings,
    mail_sink: Collector,
) -> None:
    nightly = settings.model_copy(update={"export_mail_to": FINANCE, "export_link_base": LINKS})
    await ensure_schedules(client, nightly, task_queue)
    for schedule_id, workflow, hour in (
        (AUDIT_LOG_PURGE_SCHEDULE, "AuditLogPurgeWorkflow", 3),
        (NIGHTLY_EXPORT_SCHEDULE, "NightlyExportWorkflow", 1),
        (STOCK_RECONCILIATION_SCHEDULE, "ReconciliationWorkflow", 4),
    ):
        described = (await client.get_schedule_handle(schedule_id).describe()).schedule
        assert [c.hour for c in described.spec.calendars] == [(ScheduleRange(hour),)]
        assert isinstance(described.action, ScheduleActionStartWorkflow)
        assert (described.action.workflow, described.action.task_queue) == (workflow, task_queue)

    worker = build_worker(
        client, sessions=sessions, payments=payments, executor=activity_executor,
        task_queue=task_queue,
        mailer=MailNotifier(host="127.0.0.1", port=mail_sink.port, sender="orders@shop.example"),
    )  # fmt: skip
    async with worker:
        notice = await _triggered_run(client, NIGHTLY_EXPORT_SCHEDULE, NightlyExportNotice)
        purged = await _triggered_run(client, AUDIT_LOG_PURGE_SCHEDULE, AuditLogPurged)
        reconciled = await _triggered_run(client, STOCK_RECONCILIATION_SCHEDULE, RunSummary)
    assert notice.mailed and purged.deleted >= 0
    assert reconciled.finished_at is not None and reconciled.by is None  # its schedule's

    with transaction(sessions) as session:
        export = ExportRepository(session).get(notice.export_id)
        assert export is not None
        assert (export.requested_by, export.status) == (NIGHTLY_REQUESTER, ExportStatus.PENDING)
        assert export.created_until - export.created_from == timedelta(days=1)
        assert export.created_until.time().isoformat() == "00:00:00" and export.mailed_at
    # The sink is the session's: other tests' mail (a report with attachments) is there too.
    mails = [m for m in mail_sink.messages if not m.is_multipart()]
    bodies = {m["To"]: m.get_payload(decode=True).decode() for m in mails}
    assert f"{LINKS}/exports/{notice.export_id}/approve" in bodies[FINANCE]

    # No address, no nightly export: a restarted worker removes the schedule.
    await ensure_schedules(client, settings, task_queue)
    with pytest.raises(RPCError):
        await client.get_schedule_handle(NIGHTLY_EXPORT_SCHEDULE).describe()


async def _triggered_run(client: Client, schedule_id: str, result: type[T]) -> T:
    """Run the schedule now (as from the UI) and wait for that run's result."""
    schedule = client.get_schedule_handle(schedule_id)
    await schedule.trigger()
    for _ in range(200):
        actions = (await schedule.describe()).info.recent_actions
        if actions:
            handle = client.get_workflow_handle(actions[0].action.workflow_id, result_type=result)
            return await handle.result()
        await asyncio.sleep(0.05)
    raise AssertionError(f"the triggered run of {schedule_id} never started")
