"""Confirmation: after delivery the customer has a window, with reminders, then the order
confirms itself; a delivery whose times don't add up waits in the audit queue instead. The
reminders are scheduled when the window opens and sent by the outbox
(tests/activities/test_confirmation_window.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.orders import OrderActivities
from domain.order import OrderStatus
from domain.shipping import TrackingStage
from tests.workflows.phases.support import FakeActivities, Shop, notes

S = OrderStatus
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_paid_order_completes_when_the_confirmation_window_runs_out(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()
    await order.carrier_reports(TrackingStage.DELIVERED)
    await order.wait_for(S.DELIVERED)

    ended = await order.outcome()  # a day of workflow time, skipped

    assert [status for status, _ in notes(ended)] == [
        S.PENDING_PAYMENT, S.PAID, S.ALLOCATED, S.FULFILLING, S.DELIVERED, S.COMPLETED
    ]  # fmt: skip
    assert notes(ended)[-1] == (S.COMPLETED, "confirmed automatically after 1d (same city)")
    delivered_at, completed_at = (entry.at for entry in ended.timeline[-2:])
    assert ended.confirm_by is not None
    # A day from the delivery (give or take its recording), and not a minute more.
    assert (
        timedelta(0) <= ended.confirm_by - delivered_at - timedelta(days=1) < timedelta(seconds=1)
    )
    assert timedelta(0) <= completed_at - ended.confirm_by < timedelta(seconds=1)
    # The window opened as the order was delivered; its reminders are the outbox's to send.
    [opening] = fakes.calls_to(OrderActivities.open_confirmation_window)
    assert opening.delivered_at + timedelta(days=1) == ended.confirm_by
    assert opening.window is None  # the region's, from the terms
    assert fakes.calls_to(OrderActivities.remind_customer) == []
    assert fakes.calls_to(OrderActivities.confirmation_terms) == []
    [record] = fakes.calls_to(OrderActivities.record_confirmation)
    assert record.automatic and record.transition.status == S.COMPLETED
    assert await order.through_server() == []  # no update: every step a local activity


async def test_the_customer_confirming_receipt_completes_the_order_at_once(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()
    await order.carrier_reports(TrackingStage.DELIVERED)
    await order.wait_for(S.DELIVERED)

    answer = await order.confirm_receipt("customer")

    assert answer.status == S.DELIVERED  # answered as it stood; completing follows
    ended = await order.outcome()
    assert notes(ended)[-1] == (S.COMPLETED, "receipt confirmed by customer")
    assert fakes.calls_to(OrderActivities.remind_customer) == []
    [record] = fakes.calls_to(OrderActivities.record_confirmation)
    assert not record.automatic
    assert await order.through_server() == ["record_confirmation"]


async def test_receipt_cannot_be_confirmed_before_delivery(shop: Shop) -> None:
    order = await shop.place_paid()

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await order.confirm_receipt()

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ActionRefused"
    assert (await order.snapshot()).status == S.ALLOCATED
    await order.cancel()


async def test_a_low_activity_customer_s_order_confirms_on_delivery(
    shop: Shop, fakes: FakeActivities
) -> None:
    fakes.terms = fakes.terms.model_copy(update={"confirm_on_delivery": True})
    order = await shop.place_paid()
    await order.carrier_reports(TrackingStage.DELIVERED)

    ended = await order.outcome()

    assert notes(ended)[-1] == (
        S.COMPLETED,
        "confirmed on delivery: the customer let earlier windows run out",
    )
    assert ended.timeline[-1].at - ended.timeline[-2].at < timedelta(minutes=1)
    assert fakes.calls_to(OrderActivities.remind_customer) == []


async def test_a_delivery_whose_times_dont_add_up_waits_in_the_audit_queue(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place_paid()
    packed = await order.scan(quantity=2)  # the whole package: packed now
    assert packed.packed
    # The carrier says it first scanned the parcel 50 h after it was packed.
    allocated_at = (await order.snapshot()).timeline[-1].at
    await order.carrier_reports(TrackingStage.PICKED_UP, at=allocated_at + timedelta(hours=50))
    await order.carrier_reports(TrackingStage.DELIVERED, at=allocated_at + timedelta(hours=60))
    doubt = "package 1 left the warehouse 50 h before the carrier's first scan"
    await order.wait_for(S.DELIVERED, "in the audit queue")
    [audit] = fakes.calls_to(OrderActivities.send_to_audit)
    assert audit.doubts == [doubt]

    # No window runs: days later it still waits for someone.
    await shop.env.sleep(timedelta(days=10))
    waiting = await order.snapshot()
    assert waiting.status == S.DELIVERED
    assert waiting.hold_reason == f"in the audit queue: {doubt}"
    assert fakes.calls_to(OrderActivities.open_confirmation_window) == []

    await order.confirm_receipt("support")
    ended = await order.outcome()
    assert notes(ended)[-1] == (S.COMPLETED, "receipt confirmed by support after audit")
    assert ended.hold_reason is None
    [closed] = fakes.calls_to(OrderActivities.close_audit)
    assert closed.transition.status == S.COMPLETED and closed.doubts == [doubt]
    assert fakes.calls_to(OrderActivities.record_confirmation) == []
