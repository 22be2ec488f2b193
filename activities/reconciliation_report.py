"""The monthly reconciliation health report: read from the month's runs, mailed to finance
as text, as JSON and as a chart of what is still open."""

from __future__ import annotations

from temporalio import activity

from domain.reconciliation import HealthReport, ReportRequest, month_before, month_bounds
from integrations.charts import PALETTE, Bar, bar_chart_png
from integrations.notifications import Attachment, Notifier, OutgoingMessage
from store.db import SessionFactory, transaction
from store.models import utcnow
from store.reconciliation import health_report


class ReconciliationReportActivities:
    def __init__(self, sessions: SessionFactory, mailer: Notifier) -> None:
        self.sessions = sessions
        self.mailer = mailer

    @activity.defn
    def mail_reconciliation_report(self, request: ReportRequest) -> HealthReport:
        """The report, mailed when there is someone to mail it to (a retry after a mail
        server that took it but never said so may mail it twice; nothing else repeats)."""
        month = request.month or month_before(utcnow())
        starts, ends = month_bounds(month)
        with transaction(self.sessions) as session:
            report = health_report(session, month, starts, ends)
        if request.mail_to:
            self.mailer.send(report_mail(report, request.mail_to))
        return report


def report_mail(report: HealthReport, to: str) -> OutgoingMessage:
    chart = bar_chart_png(
        [
            Bar(label=health.kind.value, value=health.open, color=PALETTE[n % len(PALETTE)])
            for n, health in enumerate(report.by_class)
        ]
    )
    return OutgoingMessage(
        order_id="",
        key=f"reconciliation-report-{report.month}",
        to_email=to,
        subject=f"Payments reconciliation, {report.month}: {report.match_rate:.4%} matched",
        body=report_text(report),
        attachments=(
            Attachment(f"reconciliation-{report.month}.json", "application/json",
                       report.model_dump_json(indent=2).encode()),
            Attachment(f"reconciliation-{report.month}.png", "image/png", chart),
        ),
    )  # fmt: skip


def report_text(report: HealthReport) -> str:
    lines = [
        f"Payments reconciliation for {report.month}",
        "",
        f"runs: {report.runs}",
        f"movements compared: {report.compared:,}",
        f"differences found: {report.differences:,} (match rate {report.match_rate:.4%})",
        f"repaired automatically: {report.repaired:,}",
        "",
        "Still open at the month's last run (the chart shows the same, left to right):",
    ]
    lines += [
        f"  {h.kind.value:<20} {h.open:>6,}  oldest {h.oldest_days} days, "
        f"mean {h.mean_age_days} days"
        for h in report.by_class
    ] or ["  nothing"]
    return "\n".join(lines) + "\n"
