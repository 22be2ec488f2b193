"""The confirmation window's reminders: scheduled by the step that opens the window, sent by the
notification outbox once due, and only while the order still waits for the customer.

The order keeps only the window's end as a timer (docs/architecture.md); these are the
steps on the real database, with mail to the test's SMTP server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities
from activities.orders import OrderActivities
from domain.confirmation import ConfirmationRules, Region, ReminderKind
from domain.messages import OutboxReport, OutboxRequest, ReminderRequest, WindowOpening
from domain.order import OrderStatus
from domain.splitting import Package, PackageLine
from integrations.notifications.mail import MailNotifier
from integrations.notifications.mail_sink import Collector
from store.db import SessionFactory, transaction
from store.models import Notification, Order
from store.repositories import CustomerRepository, OrderRepository
from tests.activities.support import stored_order

ORDER = "web-WINDOW"
CUSTOMER = "c-window"
# The outbox sends only what was written before its run: the window opens now.
DELIVERED = datetime.now(UTC).replace(second=0, microsecond=0)
FROM_HANGZHOU = Package(
    number=1,
    warehouse="HZ",
    lines=[PackageLine(sku="TEA-001", quantity=1)],
    reasons=["test"],
    weight_grams=300,
    value=1800,
)
RULES = ConfirmationRules()  # 24 h in the same city; reminders at a fifth left and 2 h before


@pytest.fixture
def order(sessions: SessionFactory) -> str:
    stored_order(sessions, ORDER, CUSTOMER, OrderStatus.DELIVERED, total=1800)
    with transaction(sessions) as session:
        OrderRepository(session).add_packages(ORDER, [FROM_HANGZHOU])
    return ORDER


def opening(window: timedelta | None = None) -> WindowOpening:
    return WindowOpening(
        order_id=ORDER, customer_id=CUSTOMER, rules=RULES, delivered_at=DELIVERED, window=window
    )


def scheduled(sessions: SessionFactory) -> dict[str, tuple[datetime, datetime | None, str]]:
    with transaction(sessions) as session:
        rows = session.scalars(select(Notification).where(Notification.order_id == ORDER))
        return {row.key: (row.due_at, row.sent_at, row.message) for row in rows}


def outbox_at(sessions: SessionFactory, mail_sink: Collector, as_of: datetime) -> OutboxReport:
    mail = MailNotifier(host="127.0.0.1", port=mail_sink.port, sender="orders@orderflow.example")
    request = OutboxRequest(as_of=as_of, grace=timedelta(0))
    return ActivityEnvironment().run(
        NotificationActivities(sessions, mail).deliver_pending, request
    )


@pytest.fixture
def mailed(mail_sink: Collector) -> Callable[[], list[str]]:
    """The keys of the order's mail since the test began (the sink serves the session)."""
    before = len(mail_sink.messages)

    def keys() -> list[str]:
        return [
            m["X-Orderflow-Notification"]
            for m in list(mail_sink.messages)[before:]
            if m["X-Orderflow-Order"] == ORDER
        ]

    return keys


def test_opening_the_window_schedules_its_reminders_once(
    sessions: SessionFactory, order: str
) -> None:
    steps, env = OrderActivities(sessions), ActivityEnvironment()

    terms = env.run(steps.open_confirmation_window, opening())
    again = env.run(steps.open_confirmation_window, opening())  # retried after its commit

    assert again == terms
    assert (terms.region, terms.window, terms.confirm_on_delivery) == (
        Region.SAME_CITY,
        timedelta(hours=24),
        False,
    )
    confirm_by = DELIVERED + timedelta(hours=24)
    rows = scheduled(sessions)
    assert {key: due for key, (due, _, _) in rows.items()} == {
        "reminder": confirm_by - timedelta(hours=4, minutes=48),
        "final_reminder": confirm_by - timedelta(hours=2),
    }
    assert all(sent is None for _, sent, _ in rows.values())
    assert f"confirm receipt by {confirm_by:%Y-%m-%d %H:%M} UTC" in rows["reminder"][2]


def test_the_order_s_own_window_sets_the_reminders(sessions: SessionFactory, order: str) -> None:
    ActivityEnvironment().run(
        OrderActivities(sessions).open_confirmation_window, opening(timedelta(hours=1))
    )
    # An hour's window: no final reminder 2 h before an end an hour away.
    [(due, _, message)] = scheduled(sessions).values()
    assert due == DELIVERED + timedelta(minutes=48)
    assert f"{DELIVERED + timedelta(hours=1):%Y-%m-%d %H:%M} UTC" in message


def test_a_low_activity_customer_gets_no_reminders(sessions: SessionFactory, order: str) -> None:
    with transaction(sessions) as session:
        CustomerRepository(session).tag_low_activity(CUSTOMER)

    terms = ActivityEnvironment().run(OrderActivities(sessions).open_confirmation_window, opening())

    assert terms.confirm_on_delivery
    assert scheduled(sessions) == {}


def test_the_outbox_sends_each_reminder_when_due_while_the_order_waits(
    sessions: SessionFactory, order: str, mail_sink: Collector, mailed: Callable[[], list[str]]
) -> None:
    ActivityEnvironment().run(OrderActivities(sessions).open_confirmation_window, opening())

    assert outbox_at(sessions, mail_sink, DELIVERED + timedelta(hours=19)) == OutboxReport()
    assert mailed() == []
    at_19h15 = DELIVERED + timedelta(hours=19, minutes=15)
    assert outbox_at(sessions, mail_sink, at_19h15) == OutboxReport(sent=1)
    assert outbox_at(sessions, mail_sink, at_19h15) == OutboxReport()  # sent once
    assert mailed() == ["reminder"]

    # The customer confirmed: the final reminder, due at 22 h, is not sent.
    with transaction(sessions) as session:
        stored = session.get(Order, ORDER)
        assert stored is not None
        stored.status = OrderStatus.COMPLETED
    assert outbox_at(sessions, mail_sink, DELIVERED + timedelta(hours=23)) == OutboxReport()
    assert mailed() == ["reminder"]
    assert scheduled(sessions)["final_reminder"][1] is None


def test_a_partly_refunded_order_still_gets_its_reminder(
    sessions: SessionFactory, order: str, mail_sink: Collector, mailed: Callable[[], list[str]]
) -> None:
    """A partial refund leaves the order waiting for the customer's confirmation."""
    ActivityEnvironment().run(OrderActivities(sessions).open_confirmation_window, opening())
    with transaction(sessions) as session:
        stored = session.get(Order, ORDER)
        assert stored is not None
        stored.status = OrderStatus.PARTIALLY_REFUNDED

    report = outbox_at(sessions, mail_sink, DELIVERED + timedelta(hours=22, minutes=1))

    assert report == OutboxReport(sent=2)
    assert sorted(mailed()) == ["final_reminder", "reminder"]


def test_an_older_order_s_own_reminder_is_written_and_sent_once(
    sessions: SessionFactory, order: str, mail_sink: Collector, mailed: Callable[[], list[str]]
) -> None:
    """Orders begun before the fourth shape still send each reminder from a step of theirs."""
    mail = MailNotifier(host="127.0.0.1", port=mail_sink.port, sender="orders@orderflow.example")
    steps, env = OrderActivities(sessions, mail), ActivityEnvironment()
    request = ReminderRequest(
        order_id=ORDER,
        customer_id=CUSTOMER,
        kind=ReminderKind.REMINDER,
        confirm_by=DELIVERED + timedelta(hours=24),
    )

    assert env.run(steps.remind_customer, request)
    assert env.run(steps.remind_customer, request)  # retried after its commit: not sent again

    assert mailed() == ["reminder"]
    [(due, sent, _)] = scheduled(sessions).values()
    assert sent is not None and due <= sent
