"""Payment: the provider is asked before the order counts as paid; the window's end cancels
the payment; a cancellation before payment, even one racing the provider's notice, ends the
order cancelled with the update's answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from activities.inventory import InventoryActivities
from activities.payments import PaymentActivities
from domain.contract import OrderSignal
from domain.messages import PaymentCheckRequest, PaymentNotification, StockRequest
from domain.order import OrderStatus
from tests.workflows.phases.support import CURRENCY, TOTAL, FakeActivities, Shop, notes, until

S = OrderStatus


async def test_a_notice_counts_only_once_the_provider_says_paid(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place()
    await order.notify_payment()  # the customer has not paid: the notice alone proves nothing
    asked = PaymentCheckRequest(
        order_id=order.order_id,
        payment_intent_id=order.payment.payment_intent_id,
        amount=TOTAL,
        currency=CURRENCY,
    )
    await until(lambda: fakes.calls_to(PaymentActivities.check_payment) == [asked])
    assert (await order.snapshot()).status == S.PENDING_PAYMENT

    fakes.pay()
    await order.notify_payment()
    allocated = await order.wait_for(S.ALLOCATED)

    assert fakes.calls_to(PaymentActivities.check_payment) == [asked, asked]
    assert notes(allocated)[1:] == [(S.PAID, "paid 36.00 USD"), (S.ALLOCATED, "ships in 1 package")]
    assert allocated.payment is not None and allocated.payment.status == "succeeded"
    await order.cancel()


async def test_without_a_notice_the_provider_is_asked_at_the_poll_time(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place()
    fakes.pay()
    await shop.env.sleep(timedelta(minutes=14))
    assert (await order.snapshot()).status == S.PENDING_PAYMENT
    assert fakes.calls_to(PaymentActivities.check_payment) == []

    await shop.env.sleep(timedelta(minutes=2))
    await order.wait_for(S.ALLOCATED)
    assert len(fakes.calls_to(PaymentActivities.check_payment)) == 1
    await order.cancel()


async def test_a_notice_for_another_payment_is_not_acted_on(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place()
    fakes.pay()
    await order.handle.signal(
        OrderSignal.PAYMENT_NOTIFIED, PaymentNotification(payment_intent_id="pi_someone_else")
    )
    await asyncio.sleep(0.2)
    assert (await order.snapshot()).status == S.PENDING_PAYMENT
    assert fakes.calls_to(PaymentActivities.check_payment) == []
    await order.cancel()


async def test_unpaid_when_the_window_ends_cancels_the_payment_and_releases_the_stock(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place()

    ended = await order.outcome()

    assert ended.status == S.CANCELLED
    assert notes(ended)[-1] == (S.CANCELLED, "payment window ended unpaid; stock released")
    started = (await order.handle.describe()).start_time
    assert timedelta(minutes=30) <= ended.timeline[-1].at - started < timedelta(minutes=31)
    # Asked at the poll time, cancelled at the window's end; then the stock goes back.
    assert [n for n in fakes.names() if n != "record_transition"][-3:] == [
        "check_payment",
        "cancel_payment",
        "release_stock",
    ]
    assert fakes.calls_to(InventoryActivities.release_stock) == [
        StockRequest(order_id=order.order_id)
    ]
    assert fakes.calls_to(PaymentActivities.refund_payment) == []
    assert fakes.provider_status == "canceled"


async def test_cancelling_before_payment_cancels_the_payment_and_releases_the_stock(
    shop: Shop, fakes: FakeActivities
) -> None:
    order = await shop.place()

    answer = await order.cancel("changed my mind")

    assert answer.status == S.CANCELLED
    assert notes(answer)[-1] == (S.CANCELLED, "cancelled before payment: changed my mind")
    assert answer == await order.outcome()
    assert len(fakes.calls_to(PaymentActivities.cancel_payment)) == 1
    assert fakes.calls_to(PaymentActivities.check_payment) == []
    assert fakes.calls_to(InventoryActivities.release_stock) == [
        StockRequest(order_id=order.order_id)
    ]
    assert fakes.calls_to(PaymentActivities.refund_payment) == []
    assert await order.through_server() == ["cancel_payment"]


@pytest.mark.parametrize("paid", [False, True], ids=["unpaid", "paid-meanwhile"])
async def test_a_cancel_racing_a_payment_notice_answers_with_the_final_snapshot(
    shop: Shop, fakes: FakeActivities, paid: bool
) -> None:
    order = await shop.place()
    if paid:
        fakes.pay()

    answer, _ = await asyncio.gather(order.cancel("too slow"), order.notify_payment())

    ended = await order.outcome()  # and no workflow task failed on the way
    assert answer == ended
    assert ended.status == S.CANCELLED
    refunds = fakes.calls_to(PaymentActivities.refund_payment)
    released = fakes.calls_to(InventoryActivities.release_stock)
    assert released == [StockRequest(order_id=order.order_id)]
    if paid:  # money taken is money given back, in full
        assert [(r.amount, r.purpose) for r in refunds] == [(TOTAL, "cancel")]
        assert notes(ended)[-1] == (S.CANCELLED, "cancelled: too slow; refunded 36.00 USD")
    else:
        assert refunds == []
        assert notes(ended)[-1] == (S.CANCELLED, "cancelled before payment: too slow")
