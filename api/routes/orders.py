"""Orders: intake, reading, and the changes support and customers make to running orders."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from starlette.concurrency import run_in_threadpool

from api.cursor import decode_cursor, encode_cursor
from api.deps import RulesDep, SessionsDep, SettingsDep, WorkflowsDep
from api.intake import accept_order, workflow_input
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
from domain.errors import InvalidRequest, OrderNotFound
from domain.messages import CancelRequest, CarrierEvent, ConfirmReceipt, OrderPolicy
from domain.order import OrderStatus, is_final
from domain.rules import FulfilmentRules
from store.db import SessionFactory, transaction
from store.models import Order
from store.repositories import (
    OrderFilters,
    OrderRepository,
    PaymentRepository,
    ShipmentRepository,
)

router = APIRouter(prefix="/orders", tags=["orders"])

IdempotencyKey = Annotated[
    str | None,
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


@router.post("", response_model=OrderPublic, status_code=status.HTTP_201_CREATED)
async def create_order(
    body: OrderCreate,
    response: Response,
    *,
    idempotency_key: IdempotencyKey = None,
    sessions: SessionsDep,
    workflows: WorkflowsDep,
    settings: SettingsDep,
    rules: RulesDep,
) -> OrderPublic:
    """Accept an order, start its workflow and return the payment the customer must complete.

    The same `Idempotency-Key`, or the same `channel` + `external_id`, returns the same order.
    """
    intake = await run_in_threadpool(accept_order, sessions, body, idempotency_key, rules.splitting)
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
    order_id: str, *, sessions: SessionsDep, workflows: WorkflowsDep
) -> OrderPublic:
    """The order as its workflow sees it now; the database's copy if the workflow can't answer."""
    order, packages = await run_in_threadpool(_load_with_packages, sessions, order_id)
    live = await workflows.snapshot(order_id)
    payment = await run_in_threadpool(_stored_payment, sessions, order_id)
    return order_public(order, payment=payment, live=live, packages=packages)


@router.get("", response_model=OrderPage)
async def list_orders(
    *,
    sessions: SessionsDep,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    channel: str | None = None,
    customer_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrderPage:
    """Orders newest first, from the read model. Pass `next_cursor` back as `cursor`."""
    try:
        after = decode_cursor(cursor) if cursor else None
    except ValueError as error:
        raise InvalidRequest("cursor is not one this API returned") from error
    filters = OrderFilters(status=status_, channel=channel, customer_id=customer_id)

    def page() -> OrderPage:
        with transaction(sessions) as session:
            rows, last = OrderRepository(session).page(filters, after=after, limit=limit)
            items = [order_public(o, with_timeline=False) for o in rows]
        return OrderPage(items=items, next_cursor=encode_cursor(last) if last else None)

    return await run_in_threadpool(page)


@router.post("/{order_id}/cancel", response_model=OrderPublic)
async def cancel_order(
    order_id: str, body: CancelIn, *, sessions: SessionsDep, workflows: WorkflowsDep
) -> OrderPublic:
    """Cancel an order that has not shipped; a paid order is refunded and its stock released."""
    order = await run_in_threadpool(_load, sessions, order_id)
    live = await workflows.cancel(order_id, CancelRequest(reason=body.reason))
    return order_public(order, live=live)


@router.post("/{order_id}/confirm-receipt", response_model=OrderPublic)
async def confirm_receipt(
    order_id: str, body: ConfirmReceiptIn, *, sessions: SessionsDep, workflows: WorkflowsDep
) -> OrderPublic:
    """The customer confirms the parcel arrived; the order completes without waiting."""
    order = await run_in_threadpool(_load, sessions, order_id)
    live = await workflows.confirm_receipt(order_id, ConfirmReceipt(by=body.by))
    return order_public(order, live=live)


@router.post("/{order_id}/carrier-events", response_model=Accepted, status_code=202)
async def carrier_event(
    order_id: str, body: CarrierEventIn, *, sessions: SessionsDep, workflows: WorkflowsDep
) -> Accepted:
    """Record that the package shipped or was delivered (manual entry until carriers report)."""
    await run_in_threadpool(_require, sessions, order_id)
    event = CarrierEvent(kind=body.kind, tracking_number=body.tracking_number, carrier=body.carrier)
    if not await workflows.carrier_event(order_id, event):
        return Accepted(accepted=False, detail="order is closed; event ignored")
    return Accepted()


def _load(sessions: SessionFactory, order_id: str) -> Order:
    with transaction(sessions) as session:
        order = OrderRepository(session).get(order_id)
    if order is None:
        raise OrderNotFound(f"no order {order_id}")
    return order


def _load_with_packages(
    sessions: SessionFactory, order_id: str
) -> tuple[Order, list[PackagePublic]]:
    order = _load(sessions, order_id)
    with transaction(sessions) as session:
        shipments = {s.package: s for s in ShipmentRepository(session).for_order(order_id)}
        return order, [
            package_view(row, shipments.get(row.number))
            for row in OrderRepository(session).packages(order_id)
        ]


def _require(sessions: SessionFactory, order_id: str) -> None:
    with transaction(sessions) as session:
        if not OrderRepository(session).exists(order_id):
            raise OrderNotFound(f"no order {order_id}")


def _stored_payment(sessions: SessionFactory, order_id: str) -> PaymentPublic | None:
    with transaction(sessions) as session:
        return payment_view(PaymentRepository(session).for_order(order_id))
