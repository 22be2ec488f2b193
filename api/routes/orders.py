"""Orders: intake, reading, and the changes support and customers make to running orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.cursor import decode_cursor, encode_cursor
from api.deps import IntakeLimiterDep, RulesDep, SessionsDep, SettingsDep, WorkflowsDep
from api.intake import accept_order, workflow_input
from api.privacy import address_for, customer_for, payment_for
from api.schemas import (
    Accepted,
    CancelIn,
    CarrierEventIn,
    ConfirmReceiptIn,
    OrderCreate,
    OrderPage,
    OrderPublic,
    PackagePublic,
    PaymentPublic,
)
from api.views import order_public, package_view, payment_view, with_client_secret
from config.settings import Settings
from domain.access import Principal, Role
from domain.errors import Forbidden, InvalidRequest, OrderNotFound
from domain.ids import ORDER_ID_PATTERN
from domain.messages import CancelRequest, CarrierEvent, ConfirmReceipt, OrderPolicy
from domain.money import format_amount
from domain.order import OrderStatus, is_final
from domain.rules import FulfilmentRules
from domain.safe_text import SafeText
from store.db import SessionFactory, transaction
from store.models import Customer, Order
from store.repositories import (
    CustomerRepository,
    OrderFilters,
    OrderRepository,
    PaymentRepository,
    ShipmentRepository,
)

router = APIRouter(prefix="/orders", tags=["orders"])

IdempotencyKey = Annotated[
    SafeText | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retrying with the same key returns the same order and payment.",
    ),
]


def policy_from(settings: Settings, rules: FulfilmentRules, channel: str) -> OrderPolicy:
    return OrderPolicy(
        payment_window=timedelta(seconds=settings.payment_window_seconds),
        payment_poll_after=timedelta(seconds=settings.payment_poll_after_seconds),
        confirmation_window=(
            timedelta(seconds=settings.confirmation_window_seconds)
            if settings.confirmation_window_seconds
            else None
        ),
        stock=rules.for_channel(channel),
        splitting=rules.splitting,
        confirmation=rules.confirmation,
        sla=rules.sla,
    )


@router.post(
    "",
    response_model=OrderPublic,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": OrderPublic, "description": "The order this request placed before"}},
)
async def create_order(
    body: OrderCreate,
    response: Response,
    *,
    idempotency_key: IdempotencyKey = None,
    sessions: SessionsDep,
    workflows: WorkflowsDep,
    settings: SettingsDep,
    rules: RulesDep,
    caller: PrincipalDep,
    limiter: IntakeLimiterDep,
) -> OrderPublic:
    """Accept an order, start its workflow and return the payment the customer must complete.

    The same `Idempotency-Key`, or the same `channel` + `external_id`, returns the same order.
    An API client places orders on its own channel only. An existing customer's contact
    details are never changed by an order (the customer changes them: `PUT /customers/me`).
    Each token holder may place `ORDERFLOW_INTAKE_RATE_PER_SECOND` orders a second (429
    beyond), and a customer may hold `ORDERFLOW_UNPAID_UNITS_PER_CUSTOMER` units in unpaid
    orders (409 `unpaid_limit` beyond).
    """
    if caller.channel is not None and body.channel != caller.channel:
        raise Forbidden(f"this client places orders on channel {caller.channel} only")
    limiter.take(caller.subject)
    intake = await run_in_threadpool(
        accept_order,
        sessions,
        body,
        idempotency_key,
        rules.splitting,
        unpaid_units_cap=settings.unpaid_units_per_customer,
    )
    order = intake.order
    started = None
    if not is_final(OrderStatus(order.status)):
        policy = policy_from(settings, rules, order.channel)
        started = await workflows.start(workflow_input(intake, policy))
    # Read after the start: the workflow's first step wrote it, client secret and all.
    stored = await run_in_threadpool(_stored_payment, sessions, order.id)
    payment = with_client_secret(started, stored)
    response.headers["Location"] = f"/orders/{order.id}"
    if not intake.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return order_public(order, payment=payment, with_timeline=False)


@router.get("/{order_id}", response_model=OrderPublic)
async def get_order(
    order_id: str, *, sessions: SessionsDep, workflows: WorkflowsDep, caller: PrincipalDep
) -> OrderPublic:
    """The order as its workflow sees it now; the database's copy if the workflow can't answer.

    With the customer's contact details and address as the caller's role may see them.
    A customer sees their own orders, an API client its channel's; any other order is 404."""
    order = await run_in_threadpool(load_order, sessions, order_id, caller)
    # The workflow first, then its parcels' rows: a parcel the live order counts as
    # delivered has its row written by then, so the two never disagree that way.
    live = await workflows.snapshot(order_id)
    stored = await run_in_threadpool(_load_whole, sessions, order)
    body = order_public(stored.order, payment=stored.payment, live=live, packages=stored.packages)
    return body.model_copy(
        update={
            "payment": payment_for(caller, body.payment),
            "customer": customer_for(caller, stored.customer),
            "shipping_address": address_for(caller, stored.order.shipping_address),
        }
    )


@router.get("", response_model=OrderPage)
async def list_orders(
    *,
    sessions: SessionsDep,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    channel: SafeText | None = None,
    customer_id: SafeText | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    caller: PrincipalDep,
) -> OrderPage:
    """Orders newest first, from the read model. Pass `next_cursor` back as `cursor`.

    A customer lists their own orders, an API client its channel's."""
    try:
        after = decode_cursor(cursor) if cursor else None
    except ValueError as error:
        raise InvalidRequest("cursor is not one this API returned") from error
    filters = OrderFilters(
        status=status_,
        channel=_only_own(caller.channel, channel, "channel"),
        customer_id=_only_own(caller.customer_id, customer_id, "customer_id"),
    )

    def page() -> OrderPage:
        with transaction(sessions) as session:
            rows, last = OrderRepository(session).page(filters, after=after, limit=limit)
            items = [order_public(o, with_timeline=False) for o in rows]
        return OrderPage(items=items, next_cursor=encode_cursor(last) if last else None)

    return await run_in_threadpool(page)


@router.post("/{order_id}/cancel", response_model=OrderPublic)
async def cancel_order(
    order_id: str,
    body: CancelIn,
    *,
    sessions: SessionsDep,
    workflows: WorkflowsDep,
    settings: SettingsDep,
    caller: PrincipalDep,
) -> OrderPublic:
    """Cancel an order that has not shipped; a paid order is refunded and its stock released.

    Support refunds up to `ORDERFLOW_SUPPORT_REFUND_LIMIT` alone: cancelling a paid order
    worth more is finance's (403 for support)."""
    order = await run_in_threadpool(load_order, sessions, order_id, caller)
    _check_refund_limit(caller, order, settings.support_refund_limit)
    live = await workflows.cancel(order_id, CancelRequest(reason=body.reason, by=caller.actor))
    return order_public(order, live=live)


@router.post("/{order_id}/confirm-receipt", response_model=OrderPublic)
async def confirm_receipt(
    order_id: str,
    body: ConfirmReceiptIn,
    *,
    sessions: SessionsDep,
    workflows: WorkflowsDep,
    caller: PrincipalDep,
) -> OrderPublic:
    """The customer confirms the parcel arrived; the order completes without waiting. The
    timeline names who confirmed, from the caller's token."""
    order = await run_in_threadpool(load_order, sessions, order_id, caller)
    live = await workflows.confirm_receipt(order_id, ConfirmReceipt(by=caller.actor))
    return order_public(order, live=live)


@router.post("/{order_id}/carrier-events", response_model=Accepted, status_code=202)
async def carrier_event(
    order_id: str, body: CarrierEventIn, *, sessions: SessionsDep, workflows: WorkflowsDep
) -> Accepted:
    """Record that the package shipped or was delivered by hand, playing the carrier (admin
    only: demos and repairs; real carriers report through their signed webhook)."""
    await run_in_threadpool(_require, sessions, order_id)
    event = CarrierEvent(kind=body.kind, tracking_number=body.tracking_number, carrier=body.carrier)
    if not await workflows.carrier_event(order_id, event):
        return Accepted(accepted=False, detail="order is closed; event ignored")
    return Accepted()


def _check_refund_limit(caller: Principal, order: Order, limit: int) -> None:
    """Money moves back when a paid order is cancelled: above the limit, finance decides."""
    paid = OrderStatus(order.status) is not OrderStatus.PENDING_PAYMENT
    if caller.role is Role.SUPPORT and paid and order.total > limit:
        raise Forbidden(
            f"cancelling {order.id} refunds {format_amount(order.total, order.currency)}, above "
            f"support's limit of {format_amount(limit, order.currency)}: finance cancels it"
        )


def _only_own(own: str | None, asked: str | None, name: str) -> str | None:
    """A caller scoped to one channel or customer lists only that one."""
    if own is None:
        return asked
    if asked is not None and asked != own:
        raise Forbidden(f"this caller lists orders of {name} {own} only")
    return own


def load_order(sessions: SessionFactory, order_id: str, caller: Principal) -> Order:
    """The order, if it exists and the caller may see it: 404 alike otherwise, so order IDs
    (which are guessable) tell nobody what exists."""
    _refuse_impossible(order_id)
    with transaction(sessions) as session:
        order = OrderRepository(session).get(order_id)
    if order is None or not caller.may_see(channel=order.channel, customer_id=order.customer_id):
        raise OrderNotFound(f"no order {order_id}")
    return order


@dataclass(frozen=True)
class StoredOrder:
    """What the database holds of one order, read together for ``GET /orders/{id}``."""

    order: Order
    customer: Customer | None
    payment: PaymentPublic | None
    packages: list[PackagePublic]


def _load_whole(sessions: SessionFactory, order: Order) -> StoredOrder:
    order_id = order.id
    with transaction(sessions) as session:
        shipments = {s.package: s for s in ShipmentRepository(session).for_order(order_id)}
        return StoredOrder(
            order=order,
            customer=CustomerRepository(session).get(order.customer_id),
            payment=payment_view(PaymentRepository(session).summary_of(order_id)),
            packages=[
                package_view(row, shipments.get(row.number))
                for row in OrderRepository(session).packages(order_id)
            ],
        )


def _require(sessions: SessionFactory, order_id: str) -> None:
    _refuse_impossible(order_id)
    with transaction(sessions) as session:
        if not OrderRepository(session).exists(order_id):
            raise OrderNotFound(f"no order {order_id}")


def _refuse_impossible(order_id: str) -> None:
    """404 at once for an ID no order can have: PostgreSQL would refuse one with a NUL."""
    if not ORDER_ID_PATTERN.fullmatch(order_id):
        raise OrderNotFound(f"no order {order_id}")


def _stored_payment(sessions: SessionFactory, order_id: str) -> PaymentPublic | None:
    with transaction(sessions) as session:
        return payment_view(PaymentRepository(session).summary_of(order_id))
