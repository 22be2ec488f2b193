"""Refunds while the order runs: support and finance give money back for what was delivered
or came back — by lines, by amount, everything left, or as goodwill.

The ``refund`` update checks first (``validate``: the caller hears at once, and nothing
changes on a refusal); ``refund`` then checks again under the order's lock, because another
refund or a cancellation may have come first. The provider is asked as a regular activity,
so the update is recorded before money moves, and only a few times: a refund it refuses or
never answers is parked for finance, neither lost nor doubled — asked again under the same
request ID, it is looked for at the provider (by its purpose) and made only if missing. The
ledger is written in a step of its own, retried until done: a refund the provider made is
never parked because the database was away.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from domain import steps
from domain.compensations import OrderCompensation
from domain.errors import ActionRefused, IdempotencyConflict, OrderflowError
from domain.failures import as_failure
from domain.messages import ParkedRefund, RefundRequest
from domain.money import format_amount
from domain.order import OrderStatus, is_final
from domain.reconciliation import FoundRefund
from domain.refunds import (
    Refundable,
    RefundOrder,
    RefundOutcome,
    RefundPlan,
    RefundStatus,
    plan_refund,
)
from domain.returns import ReturnRefund
from workflows.order.state import OrderState, Parcel
from workflows.steps import step

# About 7 s of trying before a refund is parked: the caller is waiting for the answer.
REFUND_TRIES = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=4),
    maximum_attempts=4,
)
# What a parcel's way ended as, for its lines to be refundable.
BACK_OR_DELIVERED = (Parcel.DELIVERED, Parcel.RETURNED, Parcel.BLOCKED, Parcel.VOIDED)


def validate(state: OrderState, ask: RefundOrder) -> None:
    """The update's validator: a refund already made under this request ID is answered
    again; any other is planned, and refused if it can't be made."""
    if _answered(state, ask) is None:
        _plan(state, ask)


async def refund(state: OrderState, ask: RefundOrder) -> RefundOutcome:
    # Counted before the first await: a cancellation accepted meanwhile sees it and waits.
    state.refunding += 1
    try:
        async with state.changes:
            if (answer := _answered(state, ask)) is not None:
                return answer
            plan = _plan(state, ask)
            outcome = await _pay_back(state, ask, plan)
            state.refund_answers[ask.request_id] = outcome
            if outcome.status == RefundStatus.REFUNDED:
                await _book(state, plan, outcome)
            return outcome
    finally:
        state.refunding -= 1


async def compensate(state: OrderState, ask: OrderCompensation) -> None:
    """A batch compensation's share of this order: ``per_unit`` for each unit of the SKU, no
    more than is left, once per batch. No status changes: it is a gesture, not a return."""
    units = sum(line.quantity for line in state.order.lines if line.sku == ask.sku)
    what = f"batch compensation, {ask.sku}"
    await _from_outside(state, ask.purpose, ask.per_unit * units, {}, what, ask.reason, ask.by)


async def return_passed(state: OrderState, refund: ReturnRefund) -> None:
    """A returned parcel passed inspection: its lines' money, once per RMA; the order moves
    as for any refund of lines (``partially_refunded``, or ``refunded``)."""
    units = {line.sku: line.quantity for line in refund.lines}
    what = f"return {refund.rma}"
    await _from_outside(state, refund.purpose, refund.amount, units, what, refund.reason, refund.by)


async def refund_found(state: OrderState, found: FoundRefund) -> None:
    """A refund made at the provider, outside orderflow, which reconciliation found and
    booked: counted and on the timeline like any refund by amount, once. No money moves."""
    if found.refund_id in state.outside_refunds:
        return
    state.outside_refunds.add(found.refund_id)
    async with state.changes:
        if state.captured is None:
            return
        outcome = RefundOutcome(
            request_id=found.refund_id,
            status=RefundStatus.REFUNDED,
            amount=found.amount,
            currency=found.currency,
            note=found.note,
            refund_id=found.refund_id,
        )
        if open_for_refunds(state):
            await _book(state, RefundPlan(amount=found.amount, units={}, what=found.note), outcome)
            return
        state.refunded += found.amount
        await state.note(found.note)


async def _from_outside(
    state: OrderState,
    purpose: str,
    wanted: int,
    units: dict[str, int],
    what: str,
    reason: str,
    by: str | None,
) -> None:
    """Money asked from outside the order (a batch, a passed return): once per purpose, no
    more than is left, and for units, only those not refunded already (a refund by lines may
    have given a returned unit's money back before its parcel arrived)."""
    if purpose in state.outside_refunds:
        return
    state.outside_refunds.add(purpose)
    async with state.changes:
        if state.captured is None or state.payment is None:
            return
        if units:
            prices = {line.sku: line.unit_price for line in state.order.lines}
            left = _units_not_refunded(state)
            capped = {sku: min(n, max(left.get(sku, 0), 0)) for sku, n in units.items()}
            units = {sku: n for sku, n in capped.items() if n}
            wanted = min(wanted, sum(prices.get(sku, 0) * n for sku, n in units.items()))
        amount = min(wanted, state.captured.amount - state.refunded)
        if amount <= 0:
            return
        plan = RefundPlan(amount=amount, units=units, what=what)
        # Built unchecked: its text comes from inside (an RMA, a batch), which may run longer
        # than a caller's request may; a refusal here would stop the order, not a caller.
        request = RefundOrder.model_construct(
            request_id=purpose, reason=reason, by=by, lines=[], amount=None, currency=None
        )
        outcome = await _pay_back(state, request, plan, purpose=purpose)
        if outcome.status != RefundStatus.REFUNDED:
            return
        if units and open_for_refunds(state):
            await _book(state, plan, outcome)
            return
        state.refunded += outcome.amount  # a gesture, or an order not yet done shipping
        for sku, quantity in units.items():
            state.refunded_units[sku] = state.refunded_units.get(sku, 0) + quantity
        await state.note(outcome.note)


def open_for_refunds(state: OrderState) -> bool:
    return state.status in (OrderStatus.DELIVERED, OrderStatus.PARTIALLY_REFUNDED) or (
        state.status == OrderStatus.ON_HOLD and state.deciding
    )


def _answered(state: OrderState, ask: RefundOrder) -> RefundOutcome | None:
    """The first answer to this request ID, if it refunded; a request that reuses the ID for
    something else is refused."""
    answer = state.refund_answers.get(ask.request_id)
    if answer is None:
        return None
    if answer.measure != ask.measure:
        error = IdempotencyConflict("this Idempotency-Key was used for another refund")
        raise as_failure(error)
    return answer if answer.status == RefundStatus.REFUNDED else None


def _plan(state: OrderState, ask: RefundOrder) -> RefundPlan:
    try:
        if state.cancel_request is not None:
            raise ActionRefused("the order is being cancelled, which refunds what is left")
        if not open_for_refunds(state):
            raise ActionRefused(_why_not(state))
        return plan_refund(ask, _refundable(state), workflow.now())
    except OrderflowError as error:
        raise as_failure(error) from error


def _why_not(state: OrderState) -> str:
    if is_final(state.status):
        return f"order is {state.status}; its workflow no longer changes it"
    if Parcel.WITH_CARRIER in state.parcels.values():
        return (
            f"order is {state.status} with parcels on their way; "
            "refund once they arrive or come back"
        )
    return f"order is {state.status} and nothing has shipped: cancel it to refund everything"


def _back_unrefunded(state: OrderState) -> bool:
    """Units in parcels that came back or never left which no refund has covered yet."""
    back: dict[str, int] = {}
    for package in state.plan.packages if state.plan else []:
        parcel = state.parcels.get(package.number)
        if parcel != Parcel.DELIVERED and package.number not in state.settled:
            for line in package.lines:
                back[line.sku] = back.get(line.sku, 0) + line.quantity
    return any(state.refunded_units.get(sku, 0) < units for sku, units in back.items())


def _units_not_refunded(state: OrderState) -> dict[str, int]:
    """Per SKU: units delivered or come back that no refund has covered yet."""
    units: dict[str, int] = {}
    for package in state.plan.packages if state.plan else []:
        parcel = state.parcels.get(package.number)
        # A voided package settled by a late cancellation was refunded then.
        if parcel in BACK_OR_DELIVERED and package.number not in state.settled:
            for line in package.lines:
                units[line.sku] = units.get(line.sku, 0) + line.quantity
    for sku, refunded in state.refunded_units.items():
        units[sku] = units.get(sku, 0) - refunded
    return units


def _refundable(state: OrderState) -> Refundable:
    assert state.captured is not None and state.after_sales_from is not None
    return Refundable(
        captured=state.captured.amount,
        currency=state.captured.currency,
        refunded=state.refunded,
        units=_units_not_refunded(state),
        prices={line.sku: line.unit_price for line in state.order.lines},
        window_ends=state.after_sales_from + state.order.policy.stock.refund_window,
    )


async def _pay_back(
    state: OrderState, ask: RefundOrder, plan: RefundPlan, purpose: str | None = None
) -> RefundOutcome:
    assert state.payment is not None and state.captured is not None
    currency = state.captured.currency
    request = RefundRequest(
        order_id=state.order.order_id,
        payment_intent_id=state.payment.payment_intent_id,
        amount=plan.amount,
        reason=ask.reason,
        purpose=purpose or f"refund-{ask.request_id}",
        currency=currency,
        by=ask.by,
        units=plan.units or None,
    )
    money = format_amount(plan.amount, currency)
    signed = f" (by {ask.by})" if ask.by else ""
    try:
        made = await step(
            steps.REFUND_AT_PROVIDER, request, retry=REFUND_TRIES, through_server=True
        )
    except ActivityError as failure:
        problem = str(failure.cause or failure)
        await state.step(steps.PARK_REFUND, ParkedRefund(refund=request, problem=problem))
        note = f"refund of {money} ({plan.what}) parked for finance: {problem}{signed}"
        await state.note(note)
        return RefundOutcome(
            request_id=ask.request_id,
            status=RefundStatus.PARKED,
            amount=plan.amount,
            currency=currency,
            note=note,
            measure=ask.measure,
        )
    # The money moved: the ledger is written whatever it takes (the database may be away).
    result = await state.step(steps.RECORD_REFUND, made)
    return RefundOutcome(
        request_id=ask.request_id,
        status=RefundStatus.REFUNDED,
        amount=result.amount,
        currency=currency,
        note=f"refunded {money} ({plan.what}): {ask.reason}{signed}",
        refund_id=result.refund_id,
        measure=ask.measure,
    )


async def _book(state: OrderState, plan: RefundPlan, outcome: RefundOutcome) -> None:
    """Count the money and units given back, and move the order: ``refunded`` once nothing
    paid is left, ``partially_refunded`` before (a held order's hold is then settled)."""
    assert state.captured is not None
    state.refunded += outcome.amount
    for sku, quantity in plan.units.items():
        state.refunded_units[sku] = state.refunded_units.get(sku, 0) + quantity
    whole = state.refunded >= state.captured.amount
    target = OrderStatus.REFUNDED if whole else OrderStatus.PARTIALLY_REFUNDED
    # A held order is settled once what came back (or never left) is refunded, not before.
    unsettled = state.status == OrderStatus.ON_HOLD and not whole and _back_unrefunded(state)
    if state.status == target or unsettled:
        await state.note(outcome.note)
        return
    state.hold_reason = None
    await state.stamp(target, outcome.note)
