"""Payment: create the provider's payment, then wait for the money and check it with the
provider itself. A callback is a hint to ask, never proof; no callback by the poll time means
asking anyway; the payment window's end means cancelling at the provider."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow

from domain import steps
from domain.contract import PaymentVerdict
from domain.messages import (
    CreatePaymentRequest,
    PaymentCheck,
    PaymentCheckRequest,
    PaymentView,
)
from domain.steps import Step
from workflows.order.state import OrderState
from workflows.waiting import wait_until

Ask = Step[PaymentCheckRequest, PaymentCheck]
Release = Callable[[OrderState], Awaitable[None]]


async def create_payment(state: OrderState) -> PaymentView:
    order = state.order
    return await state.step(
        steps.CREATE_PAYMENT,
        CreatePaymentRequest(
            order_id=order.order_id,
            customer_id=order.customer_id,
            amount=order.amount,
            currency=order.currency,
        ),
    )


async def wait_for_payment(state: OrderState, release: Release) -> PaymentCheck | None:
    """The provider's verdict, or None when the order was cancelled before payment.
    A pre-reservation that ends first is handed to ``release``."""
    policy = state.order.policy
    started = workflow.info().start_time
    poll_at = started + policy.payment_poll_after
    deadline = started + policy.payment_window
    while state.cancel_request is None and workflow.now() < deadline:
        wake_at = poll_at if workflow.now() < poll_at else deadline
        if state.reserved_until is not None:
            wake_at = min(wake_at, state.reserved_until)
        await wait_until(
            lambda: state.payment_notices > 0 or state.cancel_request is not None, until=wake_at
        )
        if state.cancel_request is not None:
            break
        if state.reserved_until is not None and workflow.now() >= state.reserved_until:
            await release(state)
            if not state.payment_notices and workflow.now() < poll_at:
                continue
        state.payment_notices = 0
        check = await ask_provider(state, steps.CHECK_PAYMENT)
        if check.verdict != PaymentVerdict.UNPAID:
            return check
    # Cancel at the provider; a customer who paid at the last second still gets the order.
    check = await ask_provider(state, steps.CANCEL_PAYMENT)
    if check.verdict == PaymentVerdict.UNPAID and state.cancel_request is not None:
        return None
    return check


async def ask_provider(
    state: OrderState, ask: Ask, payment: PaymentView | None = None
) -> PaymentCheck:
    """Check (or cancel) the payment at the provider; what it says was paid is the order's."""
    payment = payment or state.payment
    assert payment is not None
    order = state.order
    check = await state.step(
        ask,
        PaymentCheckRequest(
            order_id=order.order_id,
            payment_intent_id=payment.payment_intent_id,
            amount=order.amount,
            currency=order.currency,
        ),
    )
    if state.payment is not None:
        state.payment = state.payment.model_copy(update={"status": check.status})
    if check.verdict != PaymentVerdict.UNPAID:
        state.captured = check
    return check


async def cancel_at_provider(state: OrderState, payment: PaymentView) -> None:
    """The order could not be accepted: nobody may pay for it."""
    await ask_provider(state, steps.CANCEL_PAYMENT, payment)
