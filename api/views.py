"""Turn the read model (and, when it answers, the live workflow) into response bodies."""

from __future__ import annotations

from api.schemas import LinePublic, OrderPublic, PackagePublic, PaymentPublic
from domain.messages import OrderSnapshot, PaymentView, TimelineEntry
from domain.order import OrderStatus
from domain.splitting import PackageLine
from store.models import Order, Shipment
from store.models import Package as PackageRow
from store.repositories import STAGE_COLUMNS, PaymentSummary


def payment_view(payment: PaymentSummary | None) -> PaymentPublic | None:
    if payment is None:
        return None
    return PaymentPublic(
        provider=payment.provider,
        payment_intent_id=payment.provider_payment_id,
        client_secret=payment.client_secret,
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status,
    )


def with_client_secret(
    view: PaymentView | None, stored: PaymentPublic | None
) -> PaymentPublic | None:
    """The workflow's view of the payment (fresher), with the client secret from the payments
    table (the workflow never holds it)."""
    if view is None:
        return stored
    same = stored is not None and stored.payment_intent_id == view.payment_intent_id
    return PaymentPublic(
        **view.model_dump(), client_secret=stored.client_secret if stored and same else None
    )


def package_view(row: PackageRow, shipment: Shipment | None = None) -> PackagePublic:
    view = PackagePublic(
        number=row.number,
        warehouse=row.warehouse,
        lines=[PackageLine(**line) for line in row.lines],
        reasons=row.reasons,
        weight_grams=row.weight_grams,
        value=row.value,
        cold_chain=row.cold_chain,
        fragile=row.fragile,
        insured=row.insured,
    )
    if shipment is None:
        return view
    stamps = {
        "label_bought": shipment.label_bought_at,
        "pick_started": shipment.pick_started_at,
        "packed": shipment.packed_at,
    } | {stage.value: getattr(shipment, column) for stage, column in STAGE_COLUMNS.items()}
    return view.model_copy(
        update={
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "shipment_status": shipment.status,
            "stages": {stage: at for stage, at in stamps.items() if at is not None},
        }
    )


def order_public(
    order: Order,
    *,
    payment: PaymentPublic | None = None,
    live: OrderSnapshot | None = None,
    with_timeline: bool = True,
    packages: list[PackagePublic] | None = None,
) -> OrderPublic:
    body = OrderPublic(
        id=order.id,
        channel=order.channel,
        external_id=order.external_id,
        customer_id=order.customer_id,
        status=OrderStatus(order.status),
        currency=order.currency,
        total=order.total,
        lines=[
            LinePublic(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                line_total=line.line_total,
            )
            for line in order.lines
        ],
        payment=payment,
        timeline=[
            TimelineEntry(status=OrderStatus(e.status), at=e.at, note=e.note)
            for e in order.timeline
        ]
        if with_timeline
        else [],
        packages=packages or [],
        created_at=order.created_at,
    )
    if live is None:
        return body
    return body.model_copy(
        update={
            "status": live.status,
            "timeline": live.timeline,
            "payment": with_client_secret(live.payment, payment),
            "tracking_number": live.tracking_number,
            "confirm_by": live.confirm_by,
            "packages": packages or [PackagePublic(**p.model_dump()) for p in live.packages],
            "source": "live",
        }
    )
