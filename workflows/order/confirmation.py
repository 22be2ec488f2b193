"""Confirmation: after delivery the customer has a window to confirm receipt — by region,
with reminders — then the order confirms itself. Opening the window schedules its reminders,
which the notification outbox sends when due while the order still waits (orders begun
before the fourth shape send them from timers of their own). A delivery whose times don't
add up waits in the audit queue instead, until someone confirms the receipt. A refund of
everything paid ends either wait: the order is ``refunded``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

from domain import steps
from domain.confirmation import reminders
from domain.messages import (
    AuditRecord,
    ConfirmationQuery,
    ConfirmationRecord,
    ConfirmationTerms,
    ReminderRequest,
    WindowOpening,
)
from domain.order import OrderStatus, is_final
from domain.timing import describe_duration
from workflows.order.state import OrderState, Parcel
from workflows.waiting import wait_until


async def confirmation_window(state: OrderState) -> None:
    """The customer's window to confirm receipt, with reminders, then auto-confirm."""
    order = state.order
    rules = order.policy.confirmation
    opened_at = workflow.now()
    terms = await _open(state, opened_at)
    if terms.confirm_on_delivery:
        await state.stamp(
            OrderStatus.COMPLETED,
            "confirmed on delivery: the customer let earlier windows run out",
        )
        return
    window = order.policy.confirmation_window or terms.window
    # The window's reminders were scheduled from when it opened; older shapes took the time
    # after the step, and replay as they ran.
    delivered_at = opened_at if state.shape >= 4 else workflow.now()
    confirm_by = state.confirm_by = delivered_at + window

    def answered() -> bool:
        return state.receipt is not None or is_final(state.status)

    confirmed = False
    if state.shape < 4:
        confirmed = await _remind_from_here(state, delivered_at, window, answered)
    if not confirmed:
        confirmed = await wait_until(answered, confirm_by)
    async with state.changes:  # a refund under way is booked first
        if is_final(state.status):  # refunded in full meanwhile
            return
        if confirmed and state.receipt is not None:
            note = f"receipt confirmed by {state.receipt.by}"
        else:
            region = terms.region.value.replace("_", " ")
            note = f"confirmed automatically after {describe_duration(window)} ({region})"
        await state.step(
            steps.RECORD_CONFIRMATION,
            ConfirmationRecord(
                transition=state.enter(OrderStatus.COMPLETED, note),
                customer_id=order.customer_id,
                automatic=not confirmed,
                rules=rules,
            ),
        )


async def _open(state: OrderState, opened_at: datetime) -> ConfirmationTerms:
    order = state.order
    rules = order.policy.confirmation
    if state.shape < 4:
        query = ConfirmationQuery(
            order_id=order.order_id, customer_id=order.customer_id, rules=rules
        )
        return await state.step(steps.CONFIRMATION_TERMS, query)
    opening = WindowOpening(
        order_id=order.order_id,
        customer_id=order.customer_id,
        rules=rules,
        delivered_at=opened_at,
        window=order.policy.confirmation_window,
    )
    return await state.step(steps.OPEN_CONFIRMATION_WINDOW, opening)


async def _remind_from_here(
    state: OrderState, delivered_at: datetime, window: timedelta, answered: Callable[[], bool]
) -> bool:
    """Orders begun before the fourth shape: each reminder a timer and a step of the
    order's own. True once the customer answered."""
    order = state.order
    assert state.confirm_by is not None
    for reminder in reminders(delivered_at, window, order.policy.confirmation):
        if await wait_until(answered, reminder.at):
            return True
        await state.step(
            steps.REMIND_CUSTOMER,
            ReminderRequest(
                order_id=order.order_id,
                customer_id=order.customer_id,
                kind=reminder.kind,
                confirm_by=state.confirm_by,
            ),
        )
    return False


async def after_settling(state: OrderState) -> None:
    """A held order a partial refund settled: what was delivered gets its confirmation
    window; with nothing delivered, the order is complete now."""
    if Parcel.DELIVERED in state.parcels.values():
        return await confirmation_window(state)
    async with state.changes:
        if not is_final(state.status):
            await state.stamp(OrderStatus.COMPLETED, "settled by refund: nothing was delivered")


async def audit(state: OrderState) -> None:
    """Delivered, but the times don't add up: no confirmation window; the order waits in
    the audit queue until someone confirms the receipt."""
    state.hold_reason = f"in the audit queue: {'; '.join(state.doubts)}"
    await state.step(
        steps.SEND_TO_AUDIT,
        AuditRecord(transition=state.entry(state.status, state.hold_reason), doubts=state.doubts),
    )
    await wait_until(lambda: state.receipt is not None or is_final(state.status))
    async with state.changes:
        state.hold_reason = None
        # Refunded in full, even if a receipt came meanwhile.
        if is_final(state.status) or state.receipt is None:
            return
        note = f"receipt confirmed by {state.receipt.by} after audit"
        await state.step(
            steps.CLOSE_AUDIT,
            AuditRecord(transition=state.enter(OrderStatus.COMPLETED, note), doubts=state.doubts),
        )
