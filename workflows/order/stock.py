"""Stock: plan the packages from live stock and reserve them, all or nothing — at order, at
payment or for a short while, as the channel's rules say — and, for a paid order without
stock, backorder, refund or hold as the channel says."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

from domain import steps
from domain.errors import StockMoved
from domain.messages import (
    PackageReservation,
    PackagesRecord,
    PlanRequest,
    StockQuery,
    StockRequest,
    StockSnapshot,
)
from domain.order import OrderStatus
from domain.rules import LockStrategy, ShortageAction
from domain.splitting import PLAN_ATTEMPTS, RACED_OUT, plan_or_problem
from domain.timing import describe_duration
from workflows.order.state import OrderState
from workflows.waiting import wait_until


def locks_at_intake(state: OrderState) -> bool:
    return state.order.policy.stock.lock != LockStrategy.AT_PAYMENT


async def reserve_at_intake(state: OrderState) -> str | None:
    """Why the order can't be served, or None once its stock is reserved."""
    problem = await reserve_packages(state)
    if problem is None and state.order.policy.stock.lock == LockStrategy.PRE_RESERVE:
        state.reserved_until = workflow.now() + state.order.policy.stock.reservation_ttl
    return problem


async def reserve_packages(state: OrderState) -> str | None:
    """Plan the packages from live stock and reserve them, all or nothing.

    Returns why it could not, or None once reserved. Since the fifth shape that is one step,
    which plans again itself when another order takes the units first.
    """
    order = state.order
    if state.shape >= 5:
        request = PlanRequest(
            order_id=order.order_id,
            round=state.reservations + 1,
            lines=[line.for_planner() for line in order.lines],
            splitting=order.policy.splitting,
        )
        planned = await state.step(steps.PLAN_AND_RESERVE, request)
        if planned.plan is None:
            return planned.problem
        state.plan = planned.plan
        state.reservations += 1
        return None
    return await _snapshot_plan_reserve(state)


async def _snapshot_plan_reserve(state: OrderState) -> str | None:
    """Before the fifth shape: the stock read, planned here and reserved, in two steps; stock
    taken by another order in between means planning again."""
    order = state.order
    lines = [line.for_planner() for line in order.lines]
    skus = sorted({line.sku for line in lines})
    for _ in range(PLAN_ATTEMPTS):
        snapshot: StockSnapshot = await state.step(
            steps.STOCK_SNAPSHOT, StockQuery(order_id=order.order_id, skus=skus)
        )
        plan = plan_or_problem(
            lines, snapshot.destination, snapshot.warehouses, order.policy.splitting
        )
        if isinstance(plan, str):
            return plan
        reservation = PackageReservation(
            order_id=order.order_id, round=state.reservations + 1, packages=plan.packages
        )
        try:
            await state.step(steps.RESERVE_PACKAGES, reservation)
        except StockMoved:
            continue
        state.plan = plan
        state.reservations += 1
        return None
    return RACED_OUT


async def release_pre_reservation(state: OrderState) -> None:
    """Unpaid when the pre-reservation ends: its units go back on sale."""
    # Only this round: run again after the payment reserved the next one, it keeps that.
    released = await state.step(
        steps.RELEASE_STOCK,
        StockRequest(order_id=state.order.order_id, round=state.reservations),
    )
    ttl = describe_duration(state.order.policy.stock.reservation_ttl)
    state.plan, state.reserved_until = None, None
    await state.note(f"unpaid after {ttl}: reservation released, {released} units back on sale")


@dataclass(frozen=True)
class Shortage:
    """A paid order without its stock, and what the channel says to do about it."""

    problem: str
    action: ShortageAction


async def allocate(state: OrderState, paid_note: str) -> Shortage | None:
    """The order is paid: reserve now if the channel locks at payment or the pre-reservation
    ran out (waiting for stock on backorder); then record the packages. A shortage left is
    for the caller.

    Stock held since intake leaves nothing to wait for between paid and allocated, so the
    third shape records both with the packages, in one step and one search-attribute write.
    """
    state.reserved_until = None  # paid in time: the reservation is the order's now
    paid = None
    if state.shape >= 3 and state.plan is not None:
        paid = state.enter(OrderStatus.PAID, paid_note, mirror=False)
    else:
        await state.stamp(OrderStatus.PAID, paid_note)
    if state.plan is None and (problem := await reserve_packages(state)) is not None:
        if (shortage := await _wait_for_stock(state, problem)) is not None:
            return shortage
    assert state.plan is not None
    order = state.order
    await state.step(
        steps.RECORD_PACKAGES,
        PackagesRecord(
            paid=paid,
            transition=state.enter(OrderStatus.ALLOCATED, state.plan.summary()),
            customer_id=order.customer_id,
            packages=state.plan.packages,
            message=f"Your order {order.order_id} {state.plan.summary()}.",
        ),
    )
    return None


async def _wait_for_stock(state: OrderState, problem: str) -> Shortage | None:
    """On backorder, look again now and then until the wait ends or the order is cancelled;
    None once stock was found and reserved."""
    rules = state.order.policy.stock
    if rules.on_shortage != ShortageAction.BACKORDER:
        return Shortage(problem, rules.on_shortage)
    deadline = workflow.now() + rules.backorder_wait
    waiting = describe_duration(rules.backorder_wait)
    await state.note(f"backordered ({problem}); waiting up to {waiting}")
    while workflow.now() < deadline:
        wake_at = min(deadline, workflow.now() + rules.backorder_recheck)
        # Looks again at the hour, or at once when the warehouse receives goods.
        state.stock_arrived = False
        await wait_until(
            lambda: state.cancel_request is not None or state.stock_arrived, until=wake_at
        )
        if state.cancel_request is not None:
            return Shortage(problem, ShortageAction.REFUND)
        retried = await reserve_packages(state)
        if retried is None:
            return None
        problem = retried
    return Shortage(f"no stock within {waiting}: {problem}", ShortageAction.REFUND)
