"""The order worker: every workflow and activity of the ``orders`` task queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.addresses import AddressActivities
from activities.audit_log import AuditLogActivities
from activities.compensations import CompensationActivities
from activities.exports import ExportActivities
from activities.failures import BusinessFailures
from activities.inventory import InventoryActivities
from activities.noop import noop
from activities.notifications import NotificationActivities
from activities.orders import OrderActivities
from activities.payments import PaymentActivities
from activities.reconciliation import ReconciliationActivities
from activities.reconciliation_report import ReconciliationReportActivities
from activities.returns import ReturnActivities
from activities.shipments import ShipmentActivities
from activities.sla_statistics import SlaStatisticsActivities
from activities.statements import StatementActivities
from config.rules import load_rules
from config.settings import Settings, keyring_from
from domain.audit_log import AuditLogPurge
from domain.contract import ORDERS_TASK_QUEUE, SKELETON_TASK_QUEUE
from domain.exports import NightlyExportRequest
from domain.messages import OutboxRequest
from domain.reconciliation import ReportRequest
from domain.rules import FulfilmentRules
from domain.sla import StatisticsRequest
from integrations.carriers import Carrier
from integrations.carriers.sandbox import SandboxCarrier
from integrations.notifications import Fanout, Notifier
from integrations.notifications.mail import MailNotifier
from integrations.notifications.webhook import WebhookNotifier
from integrations.payments import PaymentProvider
from integrations.payments.stripe import StripePayments
from integrations.temporal import connect
from store.db import SessionFactory, make_engine, make_session_factory
from workers.schedules import (
    AUDIT_LOG_PURGE_SCHEDULE,
    NIGHTLY_EXPORT_SCHEDULE,
    NOTIFICATION_OUTBOX_SCHEDULE,
    PAYMENT_RECONCILIATION_SCHEDULE,
    RECONCILIATION_REPORT_SCHEDULE,
    SLA_STATISTICS_SCHEDULE,
    STATEMENT_PULL_SCHEDULE,
    STOCK_RECONCILIATION_SCHEDULE,
    audit_log_purge_schedule,
    ensure_schedule,
    nightly_export_schedule,
    notification_outbox_schedule,
    payment_reconciliation_schedule,
    reconciliation_report_schedule,
    remove_schedule,
    sla_statistics_schedule,
    statement_pull_schedule,
    stock_reconciliation_schedule,
)
from workflows.audit_log_purge import AuditLogPurgeWorkflow
from workflows.compensation_batch import CompensationWorkflow
from workflows.nightly_export import NightlyExportWorkflow
from workflows.notification_outbox import NotificationOutboxWorkflow
from workflows.order import OrderWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.reconciliation_report import ReconciliationReportWorkflow
from workflows.returns import ReturnWorkflow
from workflows.shipment import ShipmentWorkflow
from workflows.skeleton import SkeletonWorkflow
from workflows.sla_statistics import SlaStatisticsWorkflow
from workflows.statement_pull import StatementPullWorkflow

ACTIVITY_THREADS = 32

# The sandbox re-imports the workflow modules for every run, so a workflow can't keep state
# between runs or reach I/O by accident. Only what is deterministic and free of side effects
# comes from outside: our own domain rules and types, and pydantic (the standard library and
# the SDK are passed through by default). Workflows call activities by name
# (``domain.steps``), never importing them, so the store and the providers stay out.
PASSED_THROUGH = ("domain", "pydantic", "pydantic_core", "annotated_types")
WORKFLOWS = [
    OrderWorkflow,
    ShipmentWorkflow,
    SlaStatisticsWorkflow,
    NotificationOutboxWorkflow,
    AuditLogPurgeWorkflow,
    NightlyExportWorkflow,
    CompensationWorkflow,
    ReturnWorkflow,
    ReconciliationWorkflow,
    ReconciliationReportWorkflow,
    StatementPullWorkflow,
]
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
)


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """The sandbox checks every workflow in the workflow tests and in every replay test; the
    worker process runs the same code without it unless ``ORDERFLOW_WORKFLOW_SANDBOX`` asks:
    creating a sandbox for every run and crossing into it for every payload was about a
    fifth of the worker's CPU per order (docs/benchmarks.md)."""
    return WORKFLOW_RUNNER if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


# Every activity's business errors leave it as non-retryable failures (activities/failures.py).
INTERCEPTORS: tuple[Interceptor, ...] = (BusinessFailures(),)


def build_worker(
    client: Client,
    *,
    sessions: SessionFactory,
    payments: PaymentProvider,
    executor: ThreadPoolExecutor,
    task_queue: str = ORDERS_TASK_QUEUE,
    rules: FulfilmentRules | None = None,
    notifier: Notifier | None = None,
    carriers: dict[str, Carrier] | None = None,
    interceptors: Sequence[Interceptor] = (),
    mailer: Notifier | None = None,
    runner: WorkflowRunner = WORKFLOW_RUNNER,
) -> Worker:
    """Wire the activities to their dependencies; tests call this with their own (and with
    interceptors that break the worker on purpose)."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities(
            sessions=sessions,
            payments=payments,
            rules=rules or FulfilmentRules(),
            notifier=notifier,
            carriers=carriers or {},
            mailer=mailer,
        ),
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_THREADS,
        max_concurrent_local_activities=ACTIVITY_THREADS,
        interceptors=[*INTERCEPTORS, *interceptors],
        workflow_runner=runner,
    )


def activities(
    *,
    sessions: SessionFactory,
    payments: PaymentProvider,
    rules: FulfilmentRules,
    notifier: Notifier | None,
    carriers: dict[str, Carrier],
    mailer: Notifier | None = None,
) -> list[Callable[..., Any]]:
    """Every activity of the ``orders`` queue, bound to its dependencies (the names the
    workflows call them by are in ``domain.steps``). ``mailer`` mails staff (the nightly
    export's link); without one, the customers' notifier does."""
    orders = OrderActivities(sessions, notifier)
    inventory = InventoryActivities(sessions, low_stock_threshold=rules.low_stock_threshold)
    payment = PaymentActivities(sessions, payments)
    shipping = ShipmentActivities(sessions, carriers)
    statistics = SlaStatisticsActivities(sessions)
    outbox = NotificationActivities(sessions, notifier or Fanout([]))
    audit_log = AuditLogActivities(sessions)
    exports = ExportActivities(sessions, mailer or notifier or Fanout([]))
    report = ReconciliationReportActivities(sessions, mailer or notifier or Fanout([]))
    compensation = CompensationActivities(sessions, payments)
    addresses = AddressActivities(sessions, carriers)
    reconciliation = ReconciliationActivities(sessions)
    statements = StatementActivities(sessions, payments)
    returns = ReturnActivities(
        sessions, carriers, payments, low_stock_threshold=rules.low_stock_threshold
    )
    return [
        orders.record_transition,
        orders.record_packages,
        orders.confirmation_terms,
        orders.open_confirmation_window,
        orders.remind_customer,
        orders.record_confirmation,
        orders.send_to_audit,
        orders.tell_presale_date,
        orders.close_audit,
        inventory.stock_snapshot,
        inventory.reserve_packages,
        inventory.plan_and_reserve,
        inventory.release_stock,
        inventory.restock_returned,
        inventory.release_packages,
        payment.create_payment,
        payment.check_payment,
        payment.cancel_payment,
        payment.refund_payment,
        payment.refund_at_provider,
        payment.record_refund,
        payment.park_refund,
        shipping.check_package_stock,
        shipping.buy_label,
        shipping.hand_over,
        shipping.stamp_stage,
        shipping.raise_sla_alert,
        shipping.stage_limits,
        shipping.prepare_parcel,
        shipping.raise_stage_alert,
        shipping.raise_parcel_exception,
        shipping.stamp_warehouse,
        shipping.void_label,
        shipping.carrier_tracking,
        statistics.recompute_stage_statistics,
        outbox.deliver_pending,
        audit_log.purge_audit_log,
        exports.request_nightly_export,
        compensation.orders_to_compensate,
        compensation.compensate_order,
        returns.buy_return_label,
        returns.stamp_return,
        returns.restock_return,
        returns.quarantine_return,
        returns.refund_return,
        returns.tell_return_customer,
        returns.create_exchange_payment,
        returns.exchange_paid,
        returns.cancel_exchange,
        addresses.apply_address,
        addresses.relabel_package,
        addresses.intercept_package,
        addresses.close_address_change,
        addresses.escalate_address_change,
        reconciliation.reconcile_stock,
        reconciliation.open_reconciliation_run,
        reconciliation.reconcile_payments,
        reconciliation.note_found_refund,
        statements.pull_statement,
        report.mail_reconciliation_report,
    ]


async def ensure_schedules(
    client: Client, settings: Settings, task_queue: str = ORDERS_TASK_QUEUE
) -> None:
    every = timedelta(minutes=settings.sla_statistics_every_minutes)
    request = StatisticsRequest(
        window=timedelta(days=settings.sla_statistics_window_days),
        samples=settings.sla_statistics_samples,
    )
    schedule = sla_statistics_schedule(task_queue, every, request)
    await ensure_schedule(client, SLA_STATISTICS_SCHEDULE, schedule)
    outbox = notification_outbox_schedule(
        task_queue, timedelta(minutes=settings.notification_outbox_every_minutes), OutboxRequest()
    )
    await ensure_schedule(client, NOTIFICATION_OUTBOX_SCHEDULE, outbox)
    purge = AuditLogPurge(
        retention=timedelta(days=settings.audit_retention_days), batch=settings.audit_purge_batch
    )
    await ensure_schedule(
        client,
        AUDIT_LOG_PURGE_SCHEDULE,
        audit_log_purge_schedule(task_queue, settings.audit_purge_hour_utc, purge),
    )
    await ensure_schedule(
        client,
        STATEMENT_PULL_SCHEDULE,
        statement_pull_schedule(
            task_queue, timedelta(minutes=settings.statement_pull_every_minutes)
        ),
    )
    await ensure_schedule(
        client,
        STOCK_RECONCILIATION_SCHEDULE,
        stock_reconciliation_schedule(task_queue, settings.stock_reconciliation_hour_utc),
    )
    grace = timedelta(minutes=settings.reconciliation_grace_minutes)
    await ensure_schedule(
        client,
        PAYMENT_RECONCILIATION_SCHEDULE,
        payment_reconciliation_schedule(
            task_queue, settings.payment_reconciliation_hour_utc, grace
        ),
    )
    report = ReportRequest(mail_to=settings.reconciliation_report_to)
    await ensure_schedule(
        client,
        RECONCILIATION_REPORT_SCHEDULE,
        reconciliation_report_schedule(task_queue, settings.reconciliation_report_hour_utc, report),
    )
    if settings.export_mail_to is None:
        await remove_schedule(client, NIGHTLY_EXPORT_SCHEDULE)
    else:
        nightly = NightlyExportRequest(
            mail_to=settings.export_mail_to,
            link_base=settings.export_link_base or settings.public_api_url,
        )
        await ensure_schedule(
            client,
            NIGHTLY_EXPORT_SCHEDULE,
            nightly_export_schedule(task_queue, settings.nightly_export_hour_utc, nightly),
        )


def notifier_from(settings: Settings) -> Notifier:
    """Mail through the configured SMTP server, plus the signed webhook when a URL is set."""
    channels: list[Notifier] = [
        MailNotifier(host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from)
    ]
    if settings.notification_webhook_url:
        channels.append(
            WebhookNotifier(
                url=settings.notification_webhook_url,
                secret=settings.notification_webhook_secret,
            )
        )
    return Fanout(channels)


def mailer_from(settings: Settings) -> Notifier:
    """Mail to staff: the SMTP server alone, never the customers' webhook channel."""
    return MailNotifier(host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from)


def carriers_from(settings: Settings) -> dict[str, Carrier]:
    return {"sandbox": SandboxCarrier(base_url=settings.carrier_api_base)}


def stripe_from(settings: Settings) -> StripePayments:
    return StripePayments(api_key=settings.stripe_api_key, api_base=settings.stripe_api_base)


async def run_skeleton_worker(settings: Settings) -> None:
    """The benchmark's baseline, on its own task queue, run as the orders are (in the
    sandbox, under the same rules, or without it)."""
    client = await connect(settings)
    worker = Worker(
        client,
        task_queue=SKELETON_TASK_QUEUE,
        workflows=[SkeletonWorkflow],
        activities=[noop],
        workflow_runner=workflow_runner(settings),
    )
    await worker.run()


async def run_worker(settings: Settings) -> None:
    client = await connect(settings)
    await ensure_schedules(client, settings)
    engine = make_engine(settings.database_url, keyring=keyring_from(settings))
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(
            client,
            sessions=make_session_factory(engine),
            payments=stripe_from(settings),
            executor=executor,
            rules=load_rules(settings.rules_file),
            notifier=notifier_from(settings),
            carriers=carriers_from(settings),
            mailer=mailer_from(settings),
            runner=workflow_runner(settings),
        )
        try:
            await worker.run()
        except asyncio.CancelledError:
            pass
        finally:
            engine.dispose()
