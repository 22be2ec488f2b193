"""The audit log's rules: how long its rows are kept, and what a purge run is asked and reports.

Rows are kept at least ``MIN_RETENTION``: the setting may say longer, never shorter, and the
database refuses to delete a younger row whatever the setting says (migration 0011).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

MIN_RETENTION_DAYS = 180
MIN_RETENTION = timedelta(days=MIN_RETENTION_DAYS)


class AuditLogPurge(BaseModel):
    """Delete rows older than ``retention``, ``batch`` rows per transaction, so a long backlog
    never holds one long lock."""

    retention: timedelta = Field(timedelta(days=365), ge=MIN_RETENTION)
    batch: int = Field(5_000, ge=1, le=100_000)


class AuditLogPurged(BaseModel):
    deleted: int = 0
    batches: int = 0
