"""Opening a return: what the order can still send back, checked and written in one
transaction holding the order's row, so two requests at once can't return a unit twice."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from domain.errors import ActionRefused
from domain.order import OrderStatus
from domain.refunds import RefundLine
from domain.returns import ReturnInput, ReturnStatus
from domain.rules import ChannelRules
from store.db import SessionFactory, transaction
from store.models import Order, ReturnRow
from store.returns import ReturnRepository

# Where parcels have reached the customer (a held order may have one delivered).
RETURNABLE = (
    OrderStatus.DELIVERED,
    OrderStatus.PARTIALLY_REFUNDED,
    OrderStatus.COMPLETED,
    OrderStatus.ON_HOLD,
)


def open_rma(
    sessions: SessionFactory,
    order: Order,
    lines: list[RefundLine],
    *,
    reason: str,
    by: str,
    rules: ChannelRules,
    now: datetime,
) -> ReturnInput:
    try:
        with transaction(sessions) as session:
            return _open(ReturnRepository(session), order, lines, reason, by, rules, now)
    except IntegrityError as error:  # another return of the order took the same number
        raise ActionRefused(
            "another return of this order was opened at the same moment; ask again"
        ) from error


def _open(
    returns: ReturnRepository,
    order: Order,
    lines: list[RefundLine],
    reason: str,
    by: str,
    rules: ChannelRules,
    now: datetime,
) -> ReturnInput:
    locked = returns.lock_order(order.id)
    assert locked is not None
    status = OrderStatus(locked.status)
    if status not in RETURNABLE:
        raise ActionRefused(f"order is {status}: only delivered units can be returned")
    delivered, arrived = returns.delivered(order.id)
    if not delivered or arrived is None:
        raise ActionRefused("no parcel of this order has been delivered")
    if now > arrived + rules.refund_window:
        raise ActionRefused(
            f"the return window ended {arrived + rules.refund_window:%Y-%m-%d %H:%M} UTC"
        )
    asked = Counter[str]()
    for line in lines:
        asked[line.sku] += line.quantity
    taken = returns.spoken_for(order.id)
    for sku, quantity in asked.items():
        if sku not in delivered:
            raise ActionRefused(f"{sku} was not delivered in this order")
        left = delivered[sku][0] - taken[sku]
        if quantity > left:
            raise ActionRefused(
                f"{quantity} × {sku} asked; {max(left, 0)} can be returned "
                "(delivered, and not returned or refunded already)"
            )
    prices = {line.sku: line.unit_price for line in locked.lines}
    wanted = [RefundLine(sku=sku, quantity=quantity) for sku, quantity in sorted(asked.items())]
    rma = ReturnInput(
        rma=f"RMA-{order.id}-{returns.count(order.id) + 1}",
        order_id=order.id,
        customer_id=order.customer_id,
        lines=wanted,
        # One parcel back, to where the first of its units left from.
        warehouse=delivered[wanted[0].sku][1],
        amount=sum(prices[line.sku] * line.quantity for line in wanted),
        currency=order.currency,
        reason=reason,
        by=by,
        expires_at=now + rules.return_parcel_wait,
    )
    returns.add(
        ReturnRow(
            rma=rma.rma,
            order_id=order.id,
            status=ReturnStatus.OPEN.value,
            lines=[line.model_dump() for line in wanted],
            warehouse=rma.warehouse,
            amount=rma.amount,
            currency=rma.currency,
            reason=reason,
            actor=by,
            expires_at=rma.expires_at,
            created_at=now,
        )
    )
    return rma
