"""A payments reconciliation through the API, with the real worker, database and
localstripe: a refund made at the provider's dashboard, which no order knew of, is found by
the three-way match and repaired — the order's workflow counts it and its timeline says so,
both ledgers hold it, the audit log names the reconciliation — and a second run finds
nothing new."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.reconciliation import RECONCILIATION_ACTOR
from activities.reconciliation_report import ReconciliationReportActivities
from config.settings import Settings
from domain.access import Role
from domain.order import OrderStatus
from domain.reconciliation import ReportRequest
from integrations.notifications.mail import MailNotifier
from integrations.notifications.mail_sink import Collector
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory, transaction
from store.ledger import FinanceLedger
from store.models import AuditEntry
from store.repositories import PaymentRepository
from tests.api.test_reconciliation import reconcile
from tests.api.test_refunds import delivered_order, trace_of
from tests.conftest import Stack, stack_settings
from tests.own_localstripe import own_localstripe_url, own_payments  # noqa: F401
from tests.workflows.shipping_support import get_order, wait_for


@pytest.fixture
def settings(database_url: str, localstripe_url: str, sandbox_carrier_url: str) -> Settings:
    # Every movement is judged at once: localstripe and the worker agree within seconds.
    return stack_settings(
        database_url, localstripe_url, sandbox_carrier_url, reconciliation_grace_minutes=0
    )


async def reconcile_payments(stack: Stack) -> dict[str, Any]:
    return await reconcile(stack, {"kind": "payments"}, stack.as_role(Role.FINANCE, "fei"))


def about(run: dict[str, Any], order_id: str) -> list[tuple[str, bool]]:
    return [(d["kind"], d["repaired"]) for d in run["differences"] if d["order_id"] == order_id]


async def test_a_refund_made_at_the_dashboard_reaches_the_order_and_both_ledgers(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    trace = trace_of(sessions, order_id)
    intent = payments_intent(sessions, order_id)
    made = payments.refund_payment(
        payment_id=intent, amount=500, idempotency_key=f"dash-{order_id}"
    )

    run = await reconcile_payments(stack)

    assert about(run, order_id) == [("refund_not_synced", True)]
    order = await wait_for(stack, order_id, OrderStatus.PARTIALLY_REFUNDED, made.id)
    assert f"reconciliation run {run['run']['run_id']}" in order["timeline"][-1]["note"]
    with transaction(sessions) as session:
        legs = [
            (e.kind, e.account, e.debit, e.credit, e.trace_id)
            for e in FinanceLedger(session).entries(order_id)
        ]
        audited = session.scalars(
            select(AuditEntry.actor).where(
                AuditEntry.order_id == order_id, AuditEntry.action.like("repair%")
            )
        ).all()
    assert ("refund", "refunds", 500, 0, trace) in legs
    assert audited == [RECONCILIATION_ACTOR]
    refunds = (await stack.api.get(f"/orders/{order_id}/refunds")).json()
    assert [(r["amount"], r["actor"]) for r in refunds] == [(500, RECONCILIATION_ACTOR)]
    await stack.keep_history(order_id, "partly_refunded_at_the_dashboard_found_by_reconciliation")
    await stack.keep_reconciliation_history(
        run["run"]["run_id"], "payments_run_told_a_running_order"
    )

    again = await reconcile_payments(stack)

    assert about(again, order_id) == [] and again["run"]["new_differences"] == 0
    assert (await get_order(stack, order_id))["status"] == OrderStatus.PARTIALLY_REFUNDED


def payments_intent(sessions: SessionFactory, order_id: str) -> str:
    with transaction(sessions) as session:
        payment = PaymentRepository(session).for_order(order_id)
        assert payment is not None
        return payment.provider_payment_id


async def test_payments_runs_are_for_finance_not_the_warehouse(stack: Stack) -> None:
    warehouse = stack.as_role(Role.WAREHOUSE, "wu")
    asked = {"kind": "payments"}

    refused = await stack.api.post("/reconciliation/runs", json=asked, headers=warehouse)
    run_id = (await reconcile_payments(stack))["run"]["run_id"]

    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "forbidden"
    hidden = await stack.api.get(f"/reconciliation/runs/{run_id}", headers=warehouse)
    assert hidden.status_code == 403
    listed = await stack.api.get("/reconciliation/runs", headers=warehouse)
    assert [item["kind"] for item in listed.json()["items"]] == []
    finance = stack.as_role(Role.FINANCE, "fei")
    odd = await stack.api.post(
        "/reconciliation/runs", json={**asked, "provider": "Robert'); DROP"}, headers=finance
    )
    assert odd.status_code == 422


async def test_a_run_downloads_as_csv_and_the_month_reports_its_health(
    stack: Stack,
    localstripe_url: str,
    sessions: SessionFactory,
    payments: StripePayments,
    mail_sink: Collector,
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    intent = payments_intent(sessions, order_id)
    made = payments.refund_payment(payment_id=intent, amount=300, idempotency_key=f"d-{order_id}")
    run = await reconcile_payments(stack)
    finance = stack.as_role(Role.FINANCE, "fei")
    run_id = run["run"]["run_id"]

    download = await stack.api.get(
        f"/reconciliation/runs/{run_id}/differences.csv", headers=finance
    )

    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == run["run"]["differences"]
    assert {"kind": "refund_not_synced", "subject": made.id, "repaired": "True"}.items() <= next(
        row for row in rows if row["subject"] == made.id
    ).items()
    month = run["run"]["started_at"][:7]
    report = await stack.api.get(f"/reconciliation/report?month={month}", headers=finance)
    assert report.status_code == 200, report.text
    health = report.json()
    assert (health["runs"], health["repaired"]) == (1, 1)
    assert health["match_rate"] == round(1 - health["differences"] / health["compared"], 6)
    for bad, status in (("2026-13", 400), ("11-2026", 422)):
        refused = await stack.api.get(f"/reconciliation/report?month={bad}", headers=finance)
        assert refused.status_code == status, refused.text
    warehouse = stack.as_role(Role.WAREHOUSE, "wu")
    assert (
        await stack.api.get(f"/reconciliation/report?month={month}", headers=warehouse)
    ).status_code == 403

    # The schedule's mail: the same report as text, JSON and a chart.
    mailer = MailNotifier(host="127.0.0.1", port=mail_sink.port, sender="orders@example.com")
    activities = ReconciliationReportActivities(sessions, mailer)
    mailed = ActivityEnvironment().run(
        activities.mail_reconciliation_report,
        ReportRequest(month=month, mail_to="finance@example.com"),
    )
    assert mailed.model_dump() == health
    mail = next(
        m
        for m in reversed(mail_sink.messages)
        if m["To"] == "finance@example.com" and m["Subject"].startswith("Payments reconciliation")
    )
    parts = {part.get_filename(): part for part in mail.walk() if part.get_filename()}
    assert json.loads(parts[f"reconciliation-{month}.json"].get_payload(decode=True)) == health
    assert parts[f"reconciliation-{month}.png"].get_payload(decode=True)[:8] == b"\x89PNG\r\n\x1a\n"
    [text] = [
        p for p in mail.walk() if p.get_content_type() == "text/plain" and not p.get_filename()
    ]
    assert "repaired automatically: 1" in text.get_payload(decode=True).decode()
