"""The webhook log stays bounded: each insert purges what has aged out, a batch at a time,
and nothing a provider sends can make one row bigger than the caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from store.db import SessionFactory, transaction
from store.models import WebhookLog
from store.webhook_log import (
    MAX_BODY_BYTES,
    MAX_SIGNATURE_CHARS,
    ReceivedWebhook,
    WebhookLogRepository,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEEP = timedelta(days=14)


def webhook(at: datetime, event_id: str, **changes: object) -> ReceivedWebhook:
    fields: dict[str, object] = {
        "source": "stripe",
        "event_id": event_id,
        "received_at": at,
        "signature": "t=1,v1=00",
        "signature_ok": True,
        "status": 200,
        "body": b"{}",
        "body_size": 2,
    }
    return ReceivedWebhook(**{**fields, **changes})  # type: ignore[arg-type]


def log_rows(sessions: SessionFactory) -> list[WebhookLog]:
    with transaction(sessions) as session:
        return list(session.scalars(select(WebhookLog).order_by(WebhookLog.id)))


def record(sessions: SessionFactory, *webhooks: ReceivedWebhook) -> None:
    for each in webhooks:
        with transaction(sessions) as session:
            WebhookLogRepository(session).record(each, keep=KEEP)


def test_an_insert_purges_the_rows_older_than_the_window(sessions: SessionFactory) -> None:
    record(
        sessions,
        webhook(NOW - timedelta(days=20), "evt_old"),
        webhook(NOW - timedelta(days=13), "evt_recent"),
    )
    assert [row.event_id for row in log_rows(sessions)] == ["evt_old", "evt_recent"]

    record(sessions, webhook(NOW, "evt_now"))

    assert [row.event_id for row in log_rows(sessions)] == ["evt_recent", "evt_now"]


def test_a_purge_takes_the_oldest_rows_a_batch_at_a_time(sessions: SessionFactory) -> None:
    old = [webhook(NOW - timedelta(days=30, minutes=m), f"evt_{m}") for m in range(5)]
    record(sessions, *old)
    with transaction(sessions) as session:
        assert WebhookLogRepository(session).purge(before=NOW - KEEP, limit=2) == 2
    assert sorted(row.event_id or "" for row in log_rows(sessions)) == ["evt_0", "evt_1", "evt_2"]


def test_bodies_and_signatures_are_kept_up_to_their_caps(sessions: SessionFactory) -> None:
    body = b"x" * (MAX_BODY_BYTES + 100)
    record(
        sessions,
        webhook(NOW, "e" * 300, body=body, body_size=len(body), signature="s" * 5000),
    )
    [row] = log_rows(sessions)
    assert (len(row.body), row.body_size) == (MAX_BODY_BYTES, len(body))
    assert len(row.signature or "") == MAX_SIGNATURE_CHARS
    assert row.event_id == "e" * 255


def test_a_replay_is_found_only_when_no_original_is_left(sessions: SessionFactory) -> None:
    record(
        sessions,
        webhook(NOW - timedelta(minutes=5), "evt_1", signature="t=1,v1=provider"),
        webhook(NOW, "evt_1", signature="t=2,v1=ours", replay_of=1),
    )
    with transaction(sessions) as session:
        log = WebhookLogRepository(session)
        found = log.for_replay("evt_1")
        assert found is not None and found.signature == "t=1,v1=provider"
        assert log.for_replay("evt_1", source="carrier") is None
        session.execute(delete(WebhookLog).where(WebhookLog.replay_of.is_(None)))
        again = log.for_replay("evt_1")
        assert again is not None and again.replay_of == 1
