"""The nightly export: yesterday's orders requested in the schedule's name, and the link
mailed to finance. An admin still approves it before anything can be downloaded."""

from __future__ import annotations

from temporalio import activity

from domain.exports import (
    NIGHTLY_REQUESTER,
    ExportStatus,
    NightlyExport,
    NightlyExportNotice,
    day_range,
    nightly_export_id,
)
from integrations.notifications import Notifier, OutgoingMessage
from store.db import SessionFactory, transaction
from store.exports import ExportRepository
from store.models import Export, utcnow

MAIL_KEY = "export"


class ExportActivities:
    def __init__(self, sessions: SessionFactory, mailer: Notifier) -> None:
        self.sessions = sessions
        self.mailer = mailer

    @activity.defn
    def request_nightly_export(self, request: NightlyExport) -> NightlyExportNotice:
        """Request the day's export once and mail its link once, however often it runs. A
        mail that fails raises, and the run retries it."""
        export_id = nightly_export_id(request.day)
        created_from, created_until = day_range(request.day)
        with transaction(self.sessions) as session:
            exports = ExportRepository(session)
            exports.add_once(
                Export(
                    id=export_id,
                    requested_by=NIGHTLY_REQUESTER,
                    requested_at=utcnow(),
                    created_from=created_from,
                    created_until=created_until,
                    channel=request.channel,
                    status=ExportStatus.PENDING.value,
                )
            )
            export = exports.get(export_id)
            already_mailed = export is not None and export.mailed_at is not None
        if already_mailed:
            return NightlyExportNotice(export_id=export_id, mailed=False)
        link = f"{request.link_base.rstrip('/')}/exports/{export_id}"
        self.mailer.send(
            OutgoingMessage(
                order_id="",
                key=MAIL_KEY,
                to_email=request.mail_to,
                subject=f"Orders export for {request.day.isoformat()}: waiting for approval",
                body=(
                    f"The orders created on {request.day.isoformat()} (UTC) are export "
                    f"{export_id}, requested by the nightly schedule.\n\n"
                    f"An admin releases it: POST {link}/approve\n"
                    f"Then its pages and their SHA-256 checksums are listed at: {link}\n"
                ),
            )
        )
        with transaction(self.sessions) as session:
            mailed = ExportRepository(session).mark_mailed(export_id, utcnow())
        return NightlyExportNotice(export_id=export_id, mailed=mailed)
