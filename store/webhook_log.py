"""The webhook log: every webhook received, kept a few days to debug an integration with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, delete, insert, or_, select
from sqlalchemy.orm import Session

from store.inserts import core, rows_changed
from store.models import WebhookLog

# Provider events are a few kilobytes; a bigger body is kept cut, and cannot be replayed.
MAX_BODY_BYTES = 64 * 1024
MAX_SIGNATURE_CHARS = 1024
# The most rows one insert purges: a burst 14 days ago never lands on one request today.
PURGE_BATCH = 500


# Every webhook is recorded and purges as it goes: Core statements built once, which took
# about half the CPU of an ORM insert and a purge built per call (docs/benchmarks.md, change 11).
_INSERT = insert(WebhookLog).returning(WebhookLog.id)
# SQLite and PostgreSQL both take a LIMIT inside IN (...), not on DELETE itself.
_PURGE = delete(WebhookLog).where(
    WebhookLog.id.in_(
        select(WebhookLog.id)
        .where(WebhookLog.received_at < bindparam("before"))
        .order_by(WebhookLog.received_at)
        .limit(bindparam("limit"))
    )
)


@dataclass(frozen=True)
class ReceivedWebhook:
    source: str
    event_id: str | None
    received_at: datetime
    signature: str | None
    signature_ok: bool
    status: int
    body: bytes
    body_size: int
    replay_of: int | None = None


def _of_source(source: str) -> ColumnElement[bool]:
    """``stripe``, ``carrier`` (every carrier) or one carrier's ``carrier:<name>``."""
    return or_(
        WebhookLog.source == source, WebhookLog.source.startswith(f"{source}:", autoescape=True)
    )


class WebhookLogRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, webhook: ReceivedWebhook, *, keep: timedelta) -> int:
        """Insert one row and purge what has aged past ``keep``: each insert removes the few
        rows that crossed the line since the last, through the ``received_at`` index, so the
        table stays bounded without a schedule of its own."""
        row = {
            "source": webhook.source,
            "event_id": webhook.event_id[:255] if webhook.event_id else None,
            "received_at": webhook.received_at,
            "signature": webhook.signature[:MAX_SIGNATURE_CHARS] if webhook.signature else None,
            "signature_ok": webhook.signature_ok,
            "status": webhook.status,
            "body": webhook.body[:MAX_BODY_BYTES],
            "body_size": webhook.body_size,
            "replay_of": webhook.replay_of,
        }
        row_id = core(self.session).execute(_INSERT, row).scalar_one()
        self.purge(before=webhook.received_at - keep)
        return int(row_id)

    def purge(self, *, before: datetime, limit: int = PURGE_BATCH) -> int:
        """Delete up to ``limit`` of the oldest rows received before ``before``."""
        return rows_changed(core(self.session).execute(_PURGE, {"before": before, "limit": limit}))

    def latest(self, *, source: str | None = None, limit: int = 20) -> list[WebhookLog]:
        """Newest first."""
        query = select(WebhookLog)
        if source:
            query = query.where(_of_source(source))
        query = query.order_by(WebhookLog.received_at.desc(), WebhookLog.id.desc())
        return list(self.session.scalars(query.limit(limit)))

    def for_replay(self, event_id: str, *, source: str | None = None) -> WebhookLog | None:
        """The newest copy of the event as its provider sent it, one whose signature checked
        out first: anyone may post a body naming a real event ID, and a forged copy must never
        be the one re-signed. A replay of it only when no original is left (replays carry our
        signature, not the provider's)."""
        query = select(WebhookLog).where(WebhookLog.event_id == event_id)
        if source:
            query = query.where(_of_source(source))
        query = query.order_by(
            WebhookLog.signature_ok.is_(False),
            WebhookLog.replay_of.is_not(None),
            WebhookLog.received_at.desc(),
            WebhookLog.id.desc(),
        )
        return self.session.scalars(query.limit(1)).first()
