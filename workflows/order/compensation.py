"""Compensation: what undoes an order, in reverse — the provider's payment cancelled or the
money given back (what was really captured, less what was refunded, in its currency), then
the stock released, then what came back restocked. Every step is idempotent, so a crash
halfway only means doing the rest again. A held order whose parcels came back may also be
settled by a refund instead (``refunds.py``): what it did not refund is then released and
restocked the same way."""

from __future__ import annotations

from temporalio import workflow

from domain import steps
from domain.messages import CancelRequest, OrderPackages, RefundRequest, StockRequest
from domain.money import format_amount
from domain.order import OrderStatus
from workflows.order.state import OrderState, Parcel
from workflows.waiting import wait_until


async def release_unpaid(state: OrderState) -> None:
    """No money came: the stock goes back on sale and the order ends."""
    await state.step(steps.RELEASE_STOCK, StockRequest(order_id=state.order.order_id))
    reason = (
        f"cancelled before payment: {state.cancel_request.reason}{state.cancel_request.signed}"
        if state.cancel_request
        else "payment window ended unpaid; stock released"
    )
    await state.stamp(OrderStatus.CANCELLED, reason)


async def cancel_paid_order(state: OrderState, request: CancelRequest) -> None:
    """Give the money back (what voided packages left of it), release the stock, restock the
    parcels the carrier brought back."""
    assert state.payment is not None and state.captured is not None
    state.cancel_request = state.cancel_request or request
    async with state.changes:  # after any refund already under way
        await _cancel_paid_order(state, state.cancel_request)


async def _cancel_paid_order(state: OrderState, asked: CancelRequest) -> None:
    assert state.payment is not None and state.captured is not None
    order_id = state.order.order_id
    captured = state.captured
    refund = await state.step(
        steps.REFUND_PAYMENT,
        RefundRequest(
            order_id=order_id,
            payment_intent_id=state.payment.payment_intent_id,
            amount=captured.amount - state.refunded,
            reason=asked.reason,
            purpose="cancel",
        ),
    )
    await _release_and_restock(state)
    refunded = format_amount(refund.amount, captured.currency)
    await state.stamp(
        OrderStatus.CANCELLED, f"cancelled: {asked.reason}; refunded {refunded}{asked.signed}"
    )


async def hold_until_cancelled(state: OrderState, reason: str) -> None:
    """A person decides: the order waits on hold; cancelling gives everything back. When the
    parcels' ways have ended (one came back, or never left), a refund settles it too."""
    state.hold_reason = reason
    if state.status == OrderStatus.ON_HOLD:  # held for a parcel in trouble: say what now
        await state.note(reason)
    else:
        await state.stamp(OrderStatus.ON_HOLD, reason)
    if state.parcels:
        state.after_sales_from = state.after_sales_from or workflow.now()
        state.deciding = True
    await wait_until(
        lambda: state.cancel_request is not None or state.status != OrderStatus.ON_HOLD
    )
    state.deciding = False
    if state.cancel_request is not None:
        return await cancel_paid_order(state, state.cancel_request)
    # Settled by a refund: nothing else will ship, and what came back goes on the shelf.
    await _release_and_restock(state)


async def _release_and_restock(state: OrderState) -> None:
    order_id = state.order.order_id
    await state.step(steps.RELEASE_STOCK, StockRequest(order_id=order_id))
    returned = [number for number, at in sorted(state.parcels.items()) if at == Parcel.RETURNED]
    if returned:
        await state.step(
            steps.RESTOCK_RETURNED,
            OrderPackages(order_id=order_id, packages=returned),
        )


async def settle_voided(state: OrderState, packages: list[int]) -> None:
    """The packages a late cancellation stopped in time: their money back, their stock
    released; the parcels already on their way go on."""
    assert state.plan is not None and state.payment is not None and state.captured is not None
    state.settled.update(packages)
    value = sum(p.value for p in state.plan.packages if p.number in packages)
    names = ", ".join(str(number) for number in packages)
    reason = f"package{'s' if len(packages) > 1 else ''} {names} cancelled before pickup"
    refund = await state.step(
        steps.REFUND_PAYMENT,
        RefundRequest(
            order_id=state.order.order_id,
            payment_intent_id=state.payment.payment_intent_id,
            amount=value,
            reason=reason,
            purpose=f"packages-{'-'.join(str(number) for number in packages)}",
        ),
    )
    state.refunded += refund.amount
    # Only theirs: another package may still be on its way to the carrier.
    await state.step(
        steps.RELEASE_PACKAGES,
        OrderPackages(order_id=state.order.order_id, packages=packages),
    )
    refunded = format_amount(refund.amount, state.captured.currency)
    await state.note(f"{reason}: refunded {refunded}, stock released")
