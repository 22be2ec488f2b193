"""The audit log's scheduled purge: rows past their retention go, a batch per transaction."""

from __future__ import annotations

from temporalio import activity

from domain.audit_log import AuditLogPurge, AuditLogPurged
from store.audit_log import AuditLogRepository
from store.db import SessionFactory, transaction
from store.models import utcnow


class AuditLogActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn
    def purge_audit_log(self, request: AuditLogPurge) -> AuditLogPurged:
        """Delete every row older than the retention. Each batch commits on its own, so a
        run cut short keeps what it did and the next run (or a retry) goes on from there."""
        older_than = utcnow() - request.retention
        purged = AuditLogPurged()
        while True:
            with transaction(self.sessions) as session:
                deleted = AuditLogRepository(session).purge_batch(
                    older_than=older_than, batch=request.batch
                )
            if not deleted:
                return purged
            purged.deleted += deleted
            purged.batches += 1
            activity.heartbeat(purged.deleted)
