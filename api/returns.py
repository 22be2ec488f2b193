"""Opening a return: what the order can still send back, checked and written in one
transaction holding the order's row, so two requests at once can't return a unit twice."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.errors import ActionRefused, StockMoved
from domain.order import OrderStatus
from domain.refunds import RefundLine
from domain.returns import (
    REPLACEMENT_BASE,
    REPLACEMENT_ROUND_BASE,
    Replacement,
    ReturnInput,
    ReturnStatus,
)
from domain.rules import ChannelRules, FulfilmentRules
from domain.splitting import Package, PackageLine
from store.db import SessionFactory, transaction
from store.models import Order, ReturnRow
from store.repositories import CatalogRepository, OrderRepository, StockRepository
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
    rules: FulfilmentRules,
    now: datetime,
    exchange: list[RefundLine] | None = None,
) -> ReturnInput:
    try:
        with transaction(sessions) as session:
            rma = _open(
                ReturnRepository(session),
                order,
                lines,
                reason,
                by,
                rules.for_channel(order.channel),
                now,
            )
            if exchange:
                rma = _exchange(session, rma, order, exchange, rules)
            return rma
    except StockMoved as error:
        raise ActionRefused(f"not enough stock for the exchange: {error.message}") from error
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
    prices = returns.unit_prices(locked)
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


def _exchange(
    session: Session,
    rma: ReturnInput,
    order: Order,
    exchange: list[RefundLine],
    rules: FulfilmentRules,
) -> ReturnInput:
    """An exchange: the replacement's stock reserved now, from the warehouse the return goes
    to if it can, else the first that holds all of it; what it costs more (or less)."""
    locked = session.get(Order, order.id)  # held by this transaction since the RMA was opened
    assert locked is not None
    if OrderStatus(locked.status) == OrderStatus.ON_HOLD:
        raise ActionRefused("the order is on hold: settle it before exchanging")
    wanted = Counter[str]()
    for line in exchange:
        wanted[line.sku] += line.quantity
    products = CatalogRepository(session).products(list(wanted))
    if unknown := sorted(set(wanted) - set(products)):
        raise ActionRefused(f"unknown SKU for the exchange: {', '.join(unknown)}")
    if any(p.currency.lower() != order.currency.lower() for p in products.values()):
        raise ActionRefused(f"the exchange must be priced in {order.currency.upper()}")
    stock = StockRepository(session)
    free = {w.code: w.available for w in stock.snapshot(list(wanted))}
    places = [rma.warehouse] + sorted(code for code in free if code != rma.warehouse)
    warehouse = next(
        (
            code
            for code in places
            if all(free.get(code, {}).get(s, 0) >= n for s, n in wanted.items())
        ),
        None,
    )
    if warehouse is None:
        raise ActionRefused("no warehouse holds everything the exchange asks for")
    number = int(rma.rma.rsplit("-", 1)[1])
    lines = [RefundLine(sku=sku, quantity=n) for sku, n in sorted(wanted.items())]
    # The order's own price for what it holds (an exchange for the same thing costs
    # nothing), today's for anything else.
    paid = {line.sku: line.unit_price for line in locked.lines}
    prices = {sku: paid.get(sku, products[sku].price) for sku in wanted}
    replacement = Replacement(
        package=REPLACEMENT_BASE + number,
        round=REPLACEMENT_ROUND_BASE + number,
        warehouse=warehouse,
        lines=lines,
        weight_grams=sum(products[line.sku].weight_grams * line.quantity for line in lines),
        value=sum(prices[line.sku] * line.quantity for line in lines),
        prices=prices,
    )
    package = Package(
        number=replacement.package,
        warehouse=warehouse,
        lines=[PackageLine(sku=line.sku, quantity=line.quantity) for line in lines],
        reasons=[f"exchange for {rma.rma}"],
        weight_grams=replacement.weight_grams,
        value=replacement.value,
    )
    stock.reserve_packages(order.id, replacement.round, [package])
    OrderRepository(session).add_packages(order.id, [package])
    row = ReturnRepository(session).get(rma.rma)
    assert row is not None
    row.replacement = replacement.model_dump()
    row.difference = replacement.value - rma.amount
    return rma.model_copy(
        update={
            "replacement": replacement,
            "difference": replacement.value - rma.amount,
            "channel": order.channel,
            "sla": rules.sla,
        }
    )
