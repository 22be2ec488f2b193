"""The Temporal Schedules the worker keeps in place: created on first start, brought up to
date with the settings on every later one. Operators pause or trigger them in the UI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from domain.audit_log import AuditLogPurge
from domain.exports import NightlyExportRequest
from domain.messages import OutboxRequest
from domain.reconciliation import ReconciliationKind, ReconciliationRequest, ReportRequest
from domain.sla import StatisticsRequest
from domain.statements import StatementPullRequest
from workflows.audit_log_purge import AuditLogPurgeWorkflow
from workflows.nightly_export import NightlyExportWorkflow
from workflows.notification_outbox import NotificationOutboxWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.reconciliation_report import ReconciliationReportWorkflow
from workflows.sla_statistics import SlaStatisticsWorkflow
from workflows.statement_pull import StatementPullWorkflow

SLA_STATISTICS_SCHEDULE = "sla-statistics"
NOTIFICATION_OUTBOX_SCHEDULE = "notification-outbox"
AUDIT_LOG_PURGE_SCHEDULE = "audit-log-purge"
NIGHTLY_EXPORT_SCHEDULE = "nightly-export"
STOCK_RECONCILIATION_SCHEDULE = "stock-reconciliation"
STATEMENT_PULL_SCHEDULE = "statement-pull"
PAYMENT_RECONCILIATION_SCHEDULE = "payment-reconciliation"
RECONCILIATION_REPORT_SCHEDULE = "reconciliation-report"
EVERY_SCHEDULE = (
    SLA_STATISTICS_SCHEDULE,
    NOTIFICATION_OUTBOX_SCHEDULE,
    AUDIT_LOG_PURGE_SCHEDULE,
    NIGHTLY_EXPORT_SCHEDULE,
    STOCK_RECONCILIATION_SCHEDULE,
    STATEMENT_PULL_SCHEDULE,
    PAYMENT_RECONCILIATION_SCHEDULE,
    RECONCILIATION_REPORT_SCHEDULE,
)


def sla_statistics_schedule(
    task_queue: str, every: timedelta, request: StatisticsRequest
) -> Schedule:
    return _every(every, SLA_STATISTICS_SCHEDULE, SlaStatisticsWorkflow.run, request, task_queue)


def notification_outbox_schedule(
    task_queue: str, every: timedelta, request: OutboxRequest
) -> Schedule:
    return _every(
        every, NOTIFICATION_OUTBOX_SCHEDULE, NotificationOutboxWorkflow.run, request, task_queue
    )


def audit_log_purge_schedule(task_queue: str, hour: int, request: AuditLogPurge) -> Schedule:
    return _daily(hour, AUDIT_LOG_PURGE_SCHEDULE, AuditLogPurgeWorkflow.run, request, task_queue)


def nightly_export_schedule(task_queue: str, hour: int, request: NightlyExportRequest) -> Schedule:
    return _daily(hour, NIGHTLY_EXPORT_SCHEDULE, NightlyExportWorkflow.run, request, task_queue)


def statement_pull_schedule(task_queue: str, every: timedelta) -> Schedule:
    return _every(
        every,
        STATEMENT_PULL_SCHEDULE,
        StatementPullWorkflow.run,
        StatementPullRequest(),
        task_queue,
    )


def stock_reconciliation_schedule(task_queue: str, hour: int) -> Schedule:
    return _daily(
        hour,
        STOCK_RECONCILIATION_SCHEDULE,
        ReconciliationWorkflow.run,
        ReconciliationRequest(kind=ReconciliationKind.STOCK),
        task_queue,
    )


def payment_reconciliation_schedule(task_queue: str, hour: int, grace: timedelta) -> Schedule:
    request = ReconciliationRequest(kind=ReconciliationKind.PAYMENTS, grace=grace)
    return _daily(
        hour, PAYMENT_RECONCILIATION_SCHEDULE, ReconciliationWorkflow.run, request, task_queue
    )


def reconciliation_report_schedule(task_queue: str, hour: int, request: ReportRequest) -> Schedule:
    """On the 1st of every month at ``hour``:00 UTC: the month before."""
    action = ScheduleActionStartWorkflow(
        ReconciliationReportWorkflow.run,
        request,
        id=RECONCILIATION_REPORT_SCHEDULE,
        task_queue=task_queue,
    )
    spec = ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(day_of_month=[ScheduleRange(1)], hour=[ScheduleRange(hour)])
        ]
    )
    return Schedule(
        action=action, spec=spec, policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)
    )


def _daily(
    hour: int, schedule_id: str, run: Callable[..., Any], arg: object, task_queue: str
) -> Schedule:
    """Once a day at ``hour``:00 UTC."""
    return Schedule(
        action=ScheduleActionStartWorkflow(run, arg, id=schedule_id, task_queue=task_queue),
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)])]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def _every(
    every: timedelta, schedule_id: str, run: Callable[..., Any], arg: object, task_queue: str
) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            run,
            arg,
            id=schedule_id,  # the schedule appends the time of each run
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # A run still going when the next is due makes the next one pointless.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> None:
    """Create the schedule, or replace its action and timing; a paused one stays paused."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)


async def remove_schedule(client: Client, schedule_id: str) -> None:
    """Delete the schedule if it exists: what a setting that turns a schedule off does."""
    try:
        await client.get_schedule_handle(schedule_id).delete()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
