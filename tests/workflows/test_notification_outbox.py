"""The notification outbox: every customer notification still unsent ("ships in N packages",
presale dates, reminders a channel was down for) is delivered by the ``notification-outbox``
schedule's workflow, tried again while it fails, and handed to support after too many tries."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities
from domain.messages import OutboxReport, OutboxRequest
from domain.order import OrderStatus
from integrations.notifications.mail import MailNotifier
from integrations.notifications.mail_sink import Collector
from orderflow.stack import free_port
from store.db import SessionFactory, transaction
from store.models import Notification, Order, utcnow
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    alerts,
    lines,
    pay_and_notify,
    place,
    run_outbox,
    wait_for,
)


def rows(sessions: SessionFactory, order_id: str) -> dict[str, Notification]:
    with transaction(sessions) as session:
        found = session.scalars(select(Notification).where(Notification.order_id == order_id))
        return {row.key: row for row in found}


def mails_about(sink: Collector, order_id: str) -> list[str]:
    return [
        m["X-Orderflow-Notification"] for m in sink.messages if m["X-Orderflow-Order"] == order_id
    ]


async def allocated_order(stack: Stack, localstripe_url: str) -> str:
    """A paid order split into its packages: its "ships in N packages" notice is written."""
    order = await place(stack, lines(TEA_001=1))
    await pay_and_notify(stack, localstripe_url, order)
    await wait_for(stack, order["id"], OrderStatus.ALLOCATED)
    return order["id"]


async def test_the_outbox_delivers_what_no_step_sent_and_only_once(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, mail_sink: Collector
) -> None:
    order_id = await allocated_order(stack, localstripe_url)
    assert rows(sessions, order_id)["packages"].sent_at is None
    assert mails_about(mail_sink, order_id) == []

    # Written a moment ago: the step that wrote it may still be sending it.
    assert await run_outbox(stack, OutboxRequest()) == OutboxReport()

    assert await run_outbox(stack) == OutboxReport(sent=1)
    [mail] = [m for m in mail_sink.messages if m["X-Orderflow-Order"] == order_id]
    assert mail["X-Orderflow-Notification"] == "packages"
    assert mail["Subject"] == "Your order is on its way"
    assert mail["To"] == "li.na@example.com"  # the customer the order was placed for
    note = rows(sessions, order_id)["packages"]
    assert note.sent_at is not None and note.attempts == 1 and note.last_error is None

    assert await run_outbox(stack) == OutboxReport()
    assert mails_about(mail_sink, order_id) == ["packages"]


async def test_a_failing_channel_is_tried_again_then_handed_to_support(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, mail_sink: Collector
) -> None:
    order_id = await allocated_order(stack, localstripe_url)
    closed = free_port()
    down = NotificationActivities(
        sessions, MailNotifier(host="127.0.0.1", port=closed, sender="orders@orderflow.example")
    )
    request = OutboxRequest(grace=timedelta(0), max_attempts=3)
    outbox = ActivityEnvironment()

    assert outbox.run(down.deliver_pending, request) == OutboxReport(failed=1)
    note = rows(sessions, order_id)["packages"]
    assert note.attempts == 1 and f"127.0.0.1:{closed}" in (note.last_error or "")

    # The channel is back: the next pass delivers it and clears the error.
    up = NotificationActivities(
        sessions,
        MailNotifier(host="127.0.0.1", port=mail_sink.port, sender="orders@orderflow.example"),
    )
    assert outbox.run(up.deliver_pending, request) == OutboxReport(sent=1)
    note = rows(sessions, order_id)["packages"]
    assert note.sent_at is not None and note.last_error is None and note.attempts == 2
    assert mails_about(mail_sink, order_id) == ["packages"]

    # A message that keeps failing is given up on after max_attempts, and support is told once.
    with transaction(sessions) as session:
        session.add(
            Notification(
                order_id=order_id,
                key="presale-1",
                recipient=note.recipient,
                message="Your presale TEA-001 will ship around 2026-12-01 10:00 UTC.",
                created_at=utcnow() - timedelta(minutes=5),
            )
        )
    reports = [outbox.run(down.deliver_pending, request) for _ in range(4)]
    assert reports == [
        OutboxReport(failed=1),
        OutboxReport(failed=1),
        OutboxReport(failed=1, given_up=1),
        OutboxReport(),
    ]
    [alert] = await alerts(stack, "notification")
    assert (alert["role"], alert["level"]) == ("support", "yellow")
    assert "presale-1" in alert["message"] and "after 3 tries" in alert["message"]
    assert f"/orders/{order_id}" in alert["message"]


async def test_too_old_a_notification_is_not_sent_any_more(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, mail_sink: Collector
) -> None:
    order_id = await allocated_order(stack, localstripe_url)
    with transaction(sessions) as session:
        note = session.scalar(select(Notification).where(Notification.order_id == order_id))
        assert note is not None
        note.created_at = note.due_at = utcnow() - timedelta(days=4)
    assert await run_outbox(stack) == OutboxReport()
    assert mails_about(mail_sink, order_id) == []


async def test_a_reminder_to_confirm_goes_out_only_while_the_order_waits_for_it(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, mail_sink: Collector
) -> None:
    """A reminder a channel was down for is retried while the order is delivered; once the
    order completed (confirmed, or the window ran out) it would only confuse the customer."""
    order_id = await allocated_order(stack, localstripe_url)
    with transaction(sessions) as session:
        note = session.scalar(select(Notification).where(Notification.order_id == order_id))
        assert note is not None
        note.sent_at = utcnow()  # the packages notice went out
        session.add(
            Notification(
                order_id=order_id,
                key="reminder",
                recipient=note.recipient,
                message=f"Did order {order_id} arrive?",
                created_at=utcnow() - timedelta(minutes=5),
                last_error="mail to 127.0.0.1:1: connection refused",
                attempts=1,
            )
        )
        order = session.get(Order, order_id)
        assert order is not None
        order.status = "completed"
    assert await run_outbox(stack) == OutboxReport()

    with transaction(sessions) as session:
        order = session.get(Order, order_id)
        assert order is not None
        order.status = "delivered"
    assert await run_outbox(stack) == OutboxReport(sent=1)
    assert mails_about(mail_sink, order_id) == ["reminder"]
    assert mail_sink.messages[-1]["Subject"] == "Did your order arrive?"
