"""The confirmation window after delivery, driven through the API on the time-skipping server.

Same city 24 h, cross-province 48 h, remote 72 h (``domain/confirmation.py``); a reminder when a
fifth of the window remains, a final one 2 h before it ends, both scheduled as the window opens
and mailed by the notification outbox when due to the worker's SMTP server (the session's
``mail_sink``); then the order confirms itself. Three windows in a row run out tag the
customer low-activity and their next order confirms on delivery.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.worker import Replayer

from domain.access import Role
from domain.contract import order_workflow_id
from domain.order import OrderStatus
from integrations.notifications.mail import MailNotifier
from integrations.notifications.mail_sink import Collector
from orderflow.stack import free_port
from store.db import SessionFactory, transaction
from store.models import ConfirmationOutcome, Customer, Notification
from tests import conftest
from tests.conftest import WEBHOOK_SECRET, Stack
from tests.helpers import HANGZHOU_ADDRESS, pay, payment_event, place_order, stripe_signature
from tests.workflows.shipping_support import OrderBody, get_order, run_outbox
from workflows.order import OrderWorkflow

EMAIL = "li.na@example.com"
REMINDER_KEYS = ("reminder", "final_reminder")
NANJING = {"city": "Nanjing", "province": "Jiangsu", "postal_code": "210000", "lat": 32.06,
           "lon": 118.80}  # fmt: skip
URUMQI = {"city": "Urumqi", "province": "Xinjiang", "postal_code": "830000", "lat": 43.83,
          "lon": 87.62}  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


def new_customer() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def address(**changes: object) -> dict[str, Any]:
    """The default Hangzhou address of ``tests.helpers.order_body`` with ``changes``."""
    return {**HANGZHOU_ADDRESS, **changes}


async def order_status(stack: Stack, order_id: str) -> OrderStatus:
    return OrderStatus((await get_order(stack, order_id))["status"])


async def notify_paid(stack: Stack, order: OrderBody) -> None:
    """The provider's callback, with an event id of its own (the webhook drops repeats)."""
    payload = payment_event(
        order["id"], order["payment"]["payment_intent_id"], event_id=f"evt_{uuid.uuid4().hex}"
    )
    response = await stack.api.post(
        "/webhooks/payments/stripe",
        content=payload,
        headers={"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET)},
    )
    assert response.status_code == 200, response.text


async def wait_for_status(stack: Stack, order_id: str, *statuses: OrderStatus) -> OrderBody:
    for _ in range(200):
        order = await get_order(stack, order_id)
        if order["status"] in statuses:
            return order
        await stack.env.sleep(timedelta(milliseconds=50))
    raise AssertionError(f"order {order_id} never reached {statuses}: {order}")


async def paid_order(
    stack: Stack, localstripe_url: str, customer_id: str, **shipping: object
) -> OrderBody:
    order = await place_order(
        stack.api,
        customer={"id": customer_id, "email": EMAIL, "name": "Li Na"},
        shipping_address=address(**shipping),
    )
    assert pay(localstripe_url, order["payment"]["payment_intent_id"]) == "succeeded"
    await notify_paid(stack, order)
    await wait_for_status(stack, order["id"], OrderStatus.ALLOCATED)
    return order


async def ship_and_deliver(stack: Stack, order_id: str) -> datetime:
    """Ship and deliver; returns the delivery's workflow time (the window starts there).
    A low-activity customer's order may be completed already."""
    for kind in ("shipped", "delivered"):
        response = await stack.api.post(
            f"/orders/{order_id}/carrier-events", json={"kind": kind, "tracking_number": "SF123"}
        )
        assert response.status_code == 202, response.text
    order = await wait_for_status(stack, order_id, OrderStatus.DELIVERED, OrderStatus.COMPLETED)
    (delivered,) = [entry for entry in order["timeline"] if entry["status"] == "delivered"]
    return at(delivered)


async def delivered_order(
    stack: Stack, localstripe_url: str, customer_id: str, **shipping: object
) -> tuple[str, datetime]:
    order = await paid_order(stack, localstripe_url, customer_id, **shipping)
    return order["id"], await ship_and_deliver(stack, order["id"])


def at(entry: dict[str, Any]) -> datetime:
    return parse(entry["at"])


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def assert_window(delivered_at: datetime, confirm_by: datetime, window: timedelta) -> None:
    """The window runs from delivery (give or take the few milliseconds of workflow time the
    delivery's own steps take) to ``confirm_by``."""
    assert timedelta(0) <= confirm_by - window - delivered_at < timedelta(seconds=1), (
        f"delivered {delivered_at}, confirm by {confirm_by}: not a {window} window"
    )


async def assert_replays(stack: Stack, order_id: str) -> None:
    """The finished order's history replays on today's code (a worker restart, or a query on a
    closed order, replays it), and the closed workflow still answers queries."""
    handle = stack.client.get_workflow_handle(order_workflow_id(order_id))
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=stack.client.data_converter)
    result = await replayer.replay_workflow(
        await handle.fetch_history(), raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure
    snapshot = await handle.query(OrderWorkflow.status)
    assert snapshot.status == OrderStatus.COMPLETED


def mails(sink: Collector, order_id: str, key: str | None = None) -> list[Message]:
    """The reminders (``key``, or both kinds) that reached the SMTP server about this order
    (the sink lives for the whole session)."""
    keys = (key,) if key else REMINDER_KEYS
    return [
        message
        for message in list(sink.messages)
        if message["X-Orderflow-Order"] == order_id and message["X-Orderflow-Notification"] in keys
    ]


async def wait_for_mail(sink: Collector, order_id: str, key: str) -> Message:
    """The mail reaches the sink on a thread of its own: give it a moment of real time
    (workflow time does not move)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if found := mails(sink, order_id, key):
            assert len(found) == 1, f"{key} mailed {len(found)} times"
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {key} mail for {order_id}; got {mails(sink, order_id)}")


def body_of(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def notifications(sessions: SessionFactory, order_id: str) -> dict[str, Notification]:
    with transaction(sessions) as session:
        rows = session.scalars(
            select(Notification).where(
                Notification.order_id == order_id, Notification.key.in_(REMINDER_KEYS)
            )
        )
        return {row.key: row for row in rows}


def outcome(sessions: SessionFactory, order_id: str) -> ConfirmationOutcome | None:
    with transaction(sessions) as session:
        return session.get(ConfirmationOutcome, order_id)


def is_low_activity(sessions: SessionFactory, customer_id: str) -> bool:
    with transaction(sessions) as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return customer.low_activity


async def outbox_at(stack: Stack, since_delivery: timedelta) -> None:
    """Skip to ``since_delivery`` after the delivery's step, and run the outbox there, as its
    schedule does every minute."""
    await stack.env.sleep(since_delivery)
    await run_outbox(stack)


def assert_due(
    rows: dict[str, Notification], confirm_by: datetime, **before_end: timedelta
) -> None:
    """Each reminder scheduled, unsent, ``before_end`` of the window."""
    due = {key: confirm_by - row.due_at for key, row in rows.items()}
    assert set(due) == set(before_end), due
    for key, left in before_end.items():
        assert abs(due[key] - left) < timedelta(seconds=1), (key, due[key])
    assert all(row.sent_at is None for row in rows.values())


async def let_window_run_out(stack: Stack, order_id: str, window: timedelta) -> OrderBody:
    await stack.env.sleep(window + timedelta(minutes=1))
    return await wait_for_status(stack, order_id, OrderStatus.COMPLETED)


# --- the windows -----------------------------------------------------------------------------


async def test_same_city_window_reminds_at_80_percent_and_2h_before_then_confirms_at_24h(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, mail_sink: Collector
) -> None:
    customer = new_customer()
    order_id, delivered_at = await delivered_order(stack, localstripe_url, customer)
    confirm_by = parse((await get_order(stack, order_id))["confirm_by"])
    assert_window(delivered_at, confirm_by, timedelta(hours=24))

    # Both scheduled as the window opened: the first when a fifth of the 24 h remains (at
    # 19 h 12 min), the final one 2 h before the end (at 22 h).
    assert_due(
        notifications(sessions, order_id),
        confirm_by,
        reminder=timedelta(hours=4, minutes=48),
        final_reminder=timedelta(hours=2),
    )
    await outbox_at(stack, timedelta(hours=19))
    assert mails(mail_sink, order_id) == []
    await outbox_at(stack, timedelta(minutes=15))  # 19 h 15 min
    reminder = await wait_for_mail(mail_sink, order_id, "reminder")
    assert reminder["To"] == EMAIL
    assert reminder["Subject"] == "Did your order arrive?"
    assert f"{confirm_by:%Y-%m-%d %H:%M} UTC" in body_of(reminder)

    await outbox_at(stack, timedelta(hours=2, minutes=44))  # 21 h 59 min
    assert mails(mail_sink, order_id, "final_reminder") == []
    await outbox_at(stack, timedelta(minutes=2))  # 22 h 01 min
    final = await wait_for_mail(mail_sink, order_id, "final_reminder")
    assert final["To"] == EMAIL
    assert final["X-Orderflow-Order"] == order_id
    assert final["Subject"] == "Last reminder: your order confirms itself soon"
    assert f"confirmed as received at {confirm_by:%Y-%m-%d %H:%M} UTC" in body_of(final)

    await stack.env.sleep(timedelta(hours=1, minutes=57))  # 23 h 58 min
    assert await order_status(stack, order_id) == OrderStatus.DELIVERED
    await stack.env.sleep(timedelta(minutes=3))
    body = await wait_for_status(stack, order_id, OrderStatus.COMPLETED)
    completed = body["timeline"][-1]
    assert completed["note"] == "confirmed automatically after 1d (same city)"
    assert timedelta(0) <= at(completed) - confirm_by < timedelta(seconds=1)

    rows = notifications(sessions, order_id)
    assert set(rows) == {"reminder", "final_reminder"}
    for row in rows.values():
        assert row.recipient == customer
        assert row.sent_at is not None and row.last_error is None
    assert len(mails(mail_sink, order_id)) == 2
    recorded = outcome(sessions, order_id)
    assert recorded is not None and recorded.automatic and recorded.customer_id == customer
    assert not is_low_activity(sessions, customer)
    await assert_replays(stack, order_id)


async def test_cross_province_window_is_48h(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, mail_sink: Collector
) -> None:
    order_id, delivered_at = await delivered_order(
        stack, localstripe_url, new_customer(), **NANJING
    )

    # Reminders at 38 h 24 min (a fifth of 48 h left) and at 46 h.
    await outbox_at(stack, timedelta(hours=38, minutes=20))
    assert mails(mail_sink, order_id) == []
    await outbox_at(stack, timedelta(minutes=8))  # 38 h 28 min
    await wait_for_mail(mail_sink, order_id, "reminder")
    await outbox_at(stack, timedelta(hours=7, minutes=30))  # 45 h 58 min
    assert mails(mail_sink, order_id, "final_reminder") == []
    await outbox_at(stack, timedelta(minutes=4))  # 46 h 02 min
    await wait_for_mail(mail_sink, order_id, "final_reminder")

    await stack.env.sleep(timedelta(minutes=58))  # 47 h
    assert await order_status(stack, order_id) == OrderStatus.DELIVERED
    await stack.env.sleep(timedelta(hours=1, minutes=1))
    body = await wait_for_status(stack, order_id, OrderStatus.COMPLETED)
    assert body["timeline"][-1]["note"] == "confirmed automatically after 2d (cross province)"
    assert_window(delivered_at, at(body["timeline"][-1]), timedelta(hours=48))
    assert all(row.sent_at is not None for row in notifications(sessions, order_id).values())


async def test_remote_window_is_72h_with_both_reminders_on_the_way(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, mail_sink: Collector
) -> None:
    order_id, delivered_at = await delivered_order(stack, localstripe_url, new_customer(), **URUMQI)

    # Reminders at 57 h 36 min and at 70 h, sent by the outbox on the way. The test server
    # skips time, so the 72 h pass in seconds.
    await outbox_at(stack, timedelta(hours=57, minutes=40))
    await wait_for_mail(mail_sink, order_id, "reminder")
    await outbox_at(stack, timedelta(hours=12, minutes=22))  # 70 h 02 min
    await wait_for_mail(mail_sink, order_id, "final_reminder")
    await stack.env.sleep(timedelta(hours=1, minutes=56))  # 71 h 58 min
    assert await order_status(stack, order_id) == OrderStatus.DELIVERED
    await stack.env.sleep(timedelta(minutes=3))
    body = await wait_for_status(stack, order_id, OrderStatus.COMPLETED)

    assert body["timeline"][-1]["note"] == "confirmed automatically after 3d (remote)"
    assert_window(delivered_at, at(body["timeline"][-1]), timedelta(hours=72))
    rows = notifications(sessions, order_id)
    assert set(rows) == {"reminder", "final_reminder"}
    assert all(row.sent_at is not None for row in rows.values())


async def test_confirmation_between_the_reminders_completes_at_once_without_a_final_reminder(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, mail_sink: Collector
) -> None:
    customer = new_customer()
    order_id, delivered_at = await delivered_order(stack, localstripe_url, customer)
    await outbox_at(stack, timedelta(hours=19, minutes=15))
    await wait_for_mail(mail_sink, order_id, "reminder")

    response = await stack.api.post(
        f"/orders/{order_id}/confirm-receipt",
        json={},
        headers=stack.as_role(Role.CUSTOMER, customer),
    )
    assert response.status_code == 200, response.text
    body = await wait_for_status(stack, order_id, OrderStatus.COMPLETED)
    completed = body["timeline"][-1]
    assert completed["note"] == f"receipt confirmed by customer:{customer}"
    assert at(completed) < delivered_at + timedelta(hours=19, minutes=16)

    # Well past when the final reminder was due, and past the window's end: the outbox
    # leaves it, as the order no longer waits for the customer.
    await outbox_at(stack, timedelta(hours=5))
    await asyncio.sleep(0.1)  # a stray mail would have a moment to arrive
    assert mails(mail_sink, order_id, "final_reminder") == []
    rows = notifications(sessions, order_id)
    assert rows["reminder"].sent_at is not None and rows["final_reminder"].sent_at is None
    assert (await get_order(stack, order_id))["timeline"][-1] == completed
    recorded = outcome(sessions, order_id)
    assert recorded is not None and not recorded.automatic
    await assert_replays(stack, order_id)


# --- low-activity customers ------------------------------------------------------------------


async def test_three_windows_run_out_in_a_row_tag_the_customer_and_the_next_order_confirms_on_delivery(  # noqa: E501
    stack: Stack, localstripe_url: str, sessions: SessionFactory, mail_sink: Collector
) -> None:
    customer = new_customer()
    for round in range(1, 4):
        order_id, _ = await delivered_order(stack, localstripe_url, customer)
        body = await let_window_run_out(stack, order_id, timedelta(hours=24))
        assert body["timeline"][-1]["note"].startswith("confirmed automatically")
        assert is_low_activity(sessions, customer) == (round == 3), f"after {round} windows"

    order_id, delivered_at = await delivered_order(stack, localstripe_url, customer)
    body = await wait_for_status(stack, order_id, OrderStatus.COMPLETED)
    completed = body["timeline"][-1]
    assert completed["note"].startswith("confirmed on delivery")
    assert at(completed) - delivered_at < timedelta(minutes=1)
    assert notifications(sessions, order_id) == {}
    assert mails(mail_sink, order_id) == []


async def test_a_customer_who_confirmed_one_order_by_hand_is_not_tagged(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    customer = new_customer()
    for round in range(3):
        order_id, _ = await delivered_order(stack, localstripe_url, customer)
        if round == 1:
            response = await stack.api.post(
                f"/orders/{order_id}/confirm-receipt",
                json={},
                headers=stack.as_role(Role.CUSTOMER, customer),
            )
            assert response.status_code == 200, response.text
            await wait_for_status(stack, order_id, OrderStatus.COMPLETED)
        else:
            await let_window_run_out(stack, order_id, timedelta(hours=24))
    assert not is_low_activity(sessions, customer)

    # The next order gets its window again.
    order_id, delivered_at = await delivered_order(stack, localstripe_url, customer)
    await stack.env.sleep(timedelta(hours=1))
    body = await get_order(stack, order_id)
    assert body["status"] == OrderStatus.DELIVERED
    assert_window(delivered_at, parse(body["confirm_by"]), timedelta(hours=24))


# --- a mail outage ---------------------------------------------------------------------------


@pytest.fixture
def stack_without_mail(unreachable_mail: int, stack: Stack) -> Stack:
    """The ``stack`` fixture's worker, but mailing to a port nothing listens on."""
    return stack


@pytest.fixture
def unreachable_mail(monkeypatch: pytest.MonkeyPatch) -> int:
    """Make the ``stack`` fixture (set up after this one) build its worker's notifier for a
    closed port; everything else about the worker stays as the fixture makes it."""
    closed = free_port()

    def notifier(**options: Any) -> MailNotifier:
        return MailNotifier(**{**options, "port": closed})

    monkeypatch.setattr(conftest, "MailNotifier", notifier)
    return closed


async def test_a_mail_outage_does_not_hold_the_order(
    stack_without_mail: Stack,
    unreachable_mail: int,
    localstripe_url: str,
    sessions: SessionFactory,
    mail_sink: Collector,
) -> None:
    stack = stack_without_mail
    order_id, delivered_at = await delivered_order(stack, localstripe_url, new_customer())
    await outbox_at(stack, timedelta(hours=22, minutes=1))  # both reminders due, and failing

    body = await let_window_run_out(stack, order_id, timedelta(hours=2))
    completed = body["timeline"][-1]
    assert completed["note"] == "confirmed automatically after 1d (same city)"
    assert_window(delivered_at, at(completed), timedelta(hours=24))

    rows = notifications(sessions, order_id)
    assert set(rows) == {"reminder", "final_reminder"}
    for row in rows.values():
        assert row.sent_at is None
        assert row.last_error and f"mail to 127.0.0.1:{unreachable_mail}" in row.last_error
    assert mails(mail_sink, order_id) == []
