"""Order intake: validate against the catalog, price it, persist it once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.schemas import OrderCreate
from domain.errors import IdempotencyConflict, InvalidOrder, OutOfStock, UnknownSku, UnpaidLimit
from domain.ids import derive_order_id
from domain.messages import OrderedLine, OrderPolicy, OrderWorkflowInput
from domain.money import line_total
from domain.order import RECEIVED_NOTE, OrderStatus
from domain.rules import SplitRules
from domain.splitting import check_parcel_weight
from store.db import SessionFactory, transaction
from store.models import Order, OrderEvent, OrderLine, utcnow
from store.repositories import (
    CatalogRepository,
    OrderRepository,
    ProductTerms,
    StockRepository,
)


@dataclass(frozen=True)
class Intake:
    order: Order
    created: bool
    lines: list[OrderedLine]  # as the workflow gets them: priced, with what the planner needs


def fingerprint(body: OrderCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def accept_order(
    sessions: SessionFactory,
    body: OrderCreate,
    idempotency_key: str | None,
    splitting: SplitRules | None = None,
    *,
    unpaid_units_cap: int | None = None,
) -> Intake:
    """Persist a new order, or return the one this request already created.

    ``unpaid_units_cap``: how many units one customer may hold in orders not yet paid."""
    order_id = derive_order_id(body.channel, body.external_id, idempotency_key)
    request_print = fingerprint(body)
    try:
        with transaction(sessions) as session:
            existing = _existing(OrderRepository(session), order_id, idempotency_key, request_print)
            if existing is not None:
                return _intake(session, existing, created=False)
            order, products = _priced_order(
                session,
                body,
                order_id,
                idempotency_key,
                request_print,
                splitting or SplitRules(),
                unpaid_units_cap,
            )
            return _intake(session, order, created=True, products=products)
    except IntegrityError:
        # A concurrent identical request won the insert; answer with its order.
        with transaction(sessions) as session:
            existing = _existing(OrderRepository(session), order_id, idempotency_key, request_print)
            if existing is None:
                raise
            return _intake(session, existing, created=False)


def _intake(
    session: Session,
    order: Order,
    *,
    created: bool,
    products: dict[str, ProductTerms] | None = None,
) -> Intake:
    """The order as the workflow gets it; ``products``: its lines' catalog rows, when the
    caller has them already."""
    if products is None:
        products = CatalogRepository(session).products([line.sku for line in order.lines])
    lines = [
        OrderedLine(
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price,
            weight_grams=products[line.sku].weight_grams,
            cold_chain=products[line.sku].cold_chain,
            fragile=products[line.sku].fragile,
            presale_ships_at=products[line.sku].presale_ships_at,
        )
        for line in order.lines
    ]
    return Intake(order, created=created, lines=lines)


def _existing(
    orders: OrderRepository, order_id: str, key: str | None, request_print: str
) -> Order | None:
    existing = orders.of_request(order_id, key)
    if existing is not None and existing.request_fingerprint != request_print:
        raise IdempotencyConflict(
            f"order {existing.id} was already created from a different request "
            "(same Idempotency-Key or channel order number)"
        )
    return existing


def _priced_order(
    session: Session,
    body: OrderCreate,
    order_id: str,
    key: str | None,
    request_print: str,
    splitting: SplitRules,
    unpaid_units_cap: int | None,
) -> tuple[Order, dict[str, ProductTerms]]:
    """The new order, priced, and the catalog rows it was priced from."""
    quantities: dict[str, int] = {}
    for line in body.lines:
        quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    products = CatalogRepository(session).products(list(quantities))
    unknown = sorted(set(quantities) - set(products))
    if unknown:
        raise UnknownSku(f"unknown SKU: {', '.join(unknown)}")
    currencies = {p.currency for p in products.values()}
    if len(currencies) > 1:
        raise InvalidOrder(f"lines are priced in several currencies: {sorted(currencies)}")
    # The planner's own rule, asked now so the client hears it instead of a stuck order.
    for product in products.values():
        check_parcel_weight(product.sku, product.weight_grams, splitting)
    _check_availability(session, quantities)

    orders = OrderRepository(session)
    orders.add_customer_once(body.customer.id, email=body.customer.email, name=body.customer.name)
    if unpaid_units_cap is not None:
        _check_unpaid_units(orders, body.customer.id, sum(quantities.values()), unpaid_units_cap)
    lines = [
        OrderLine(
            sku=sku,
            quantity=quantity,
            unit_price=products[sku].price,
            line_total=line_total(products[sku].price, quantity),
        )
        for sku, quantity in quantities.items()
    ]
    received_at = utcnow()
    order = Order(
        id=order_id,
        channel=body.channel,
        external_id=body.external_id,
        idempotency_key=key,
        request_fingerprint=request_print,
        customer_id=body.customer.id,
        status=OrderStatus.PENDING_PAYMENT.value,
        currency=currencies.pop(),
        total=sum(line.line_total for line in lines),
        shipping_address=body.shipping_address.model_dump(mode="json"),
        lines=lines,
        created_at=received_at,
        updated_at=received_at,
        # The timeline's first entry: the order exists from this commit on.
        timeline=[
            OrderEvent(seq=1, status=OrderStatus.PENDING_PAYMENT.value, at=received_at,
                       note=RECEIVED_NOTE)
        ],
    )  # fmt: skip
    orders.insert_new(order)
    return order, products


def _check_availability(session: Session, quantities: dict[str, int]) -> None:
    """Refuse early what no warehouse can serve; the reservation stays the real guard.

    The split planner may take a line from several warehouses, so all of them count.
    """
    available = StockRepository(session).available_anywhere(list(quantities))
    short = [sku for sku, wanted in sorted(quantities.items()) if available.get(sku, 0) < wanted]
    if short:
        raise OutOfStock(f"not enough stock for {', '.join(short)}")


def _check_unpaid_units(orders: OrderRepository, customer_id: str, wanted: int, cap: int) -> None:
    """Stock held by unpaid orders is stock nobody else can buy: one customer holds at most
    ``cap`` units of it. Concurrent orders of one customer take turns on the customer's row."""
    held = orders.unpaid_units(customer_id, lock=True)
    if held + wanted > cap:
        # How many they hold stays unsaid: the orders may be another channel's.
        raise UnpaidLimit(
            f"customer {customer_id} holds too many units in unpaid orders; at most {cap} "
            "may wait for payment at once"
        )


def workflow_input(intake: Intake, policy: OrderPolicy) -> OrderWorkflowInput:
    order = intake.order
    return OrderWorkflowInput(
        order_id=order.id,
        received_at=order.created_at,
        channel=order.channel,
        customer_id=order.customer_id,
        currency=order.currency,
        amount=order.total,
        lines=intake.lines,
        policy=policy,
    )
