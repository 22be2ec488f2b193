"""Request and response bodies. Amounts are minor units computed by the server, never the client."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from domain.contract import AlertKind, AlertLevel, AlertRole
from domain.ids import CHANNEL_PATTERN, EXTERNAL_ID_PATTERN
from domain.messages import PaymentView, TimelineEntry
from domain.order import OrderStatus
from domain.refunds import RefundStatus
from domain.safe_text import SafeText
from domain.splitting import Package


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(Strict):
    id: SafeText = Field(min_length=1, max_length=64)
    email: EmailStr
    name: SafeText = Field(min_length=1, max_length=200)


class ContactIn(Strict):
    email: EmailStr
    name: SafeText = Field(min_length=1, max_length=200)


class ContactPublic(BaseModel):
    id: str
    email: str
    name: str


class AddressIn(Strict):
    name: SafeText = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=3, max_length=40, pattern=r"^\+?[0-9 ()-]+$")
    line1: SafeText = Field(min_length=1, max_length=200)
    line2: SafeText | None = Field(None, max_length=200)
    city: SafeText = Field(min_length=1, max_length=100)
    province: SafeText | None = Field(None, max_length=100)
    postal_code: SafeText = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class LineIn(Strict):
    sku: SafeText = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=1000)


class OrderCreate(Strict):
    channel: str = Field(pattern=CHANNEL_PATTERN, examples=["web"])
    external_id: str | None = Field(None, pattern=EXTERNAL_ID_PATTERN, examples=["A-1001"])
    customer: CustomerIn
    shipping_address: AddressIn
    lines: list[LineIn] = Field(min_length=1, max_length=100)


class CustomerPublic(BaseModel):
    id: str
    email: str | None = Field(None, description="Masked for support and finance")
    name: str | None = None


class AddressPublic(BaseModel):
    """The shipping address as the caller's role may see it (docs/security.md)."""

    name: str | None = None
    phone: str | None = Field(None, description="Masked for support")
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    province: str | None = None
    postal_code: str | None = None
    country: str | None = None


class LinePublic(BaseModel):
    sku: str
    quantity: int
    unit_price: int
    line_total: int


class PaymentPublic(PaymentView):
    client_secret: str | None = Field(
        None,
        description="What the customer's browser completes the payment with; from the "
        "payments table, never from the workflow",
    )


class OrderPublic(BaseModel):
    id: str
    channel: str
    external_id: str | None
    customer_id: str
    customer: CustomerPublic | None = Field(
        None, description="Contact details, as the caller's role may see them"
    )
    shipping_address: AddressPublic | None = Field(
        None, description="Absent for finance; the phone masked for support"
    )
    status: OrderStatus
    currency: str
    total: int
    lines: list[LinePublic]
    payment: PaymentPublic | None = None
    timeline: list[TimelineEntry] = []
    tracking_number: str | None = None
    confirm_by: datetime | None = None
    packages: list[PackagePublic] = Field(
        [],
        description="The parcels the order ships in: where from, why each exists, and once "
        "shipping, the carrier, tracking number and the time of each stage",
    )
    created_at: datetime
    source: Literal["live", "database"] = Field(
        "database", description="live: asked the running workflow; database: the read model"
    )


class PackagePublic(Package):
    carrier: str | None = None
    tracking_number: str | None = None
    shipment_status: str | None = None
    stages: dict[str, datetime] = Field(
        {}, description="label_bought, picked_up, in_transit, out_for_delivery, delivered, ..."
    )


class OrderPage(BaseModel):
    items: list[OrderPublic]
    next_cursor: str | None


class StockPublic(BaseModel):
    warehouse: str
    available: int


class ProductPublic(BaseModel):
    sku: str
    name: str
    price: int
    currency: str
    weight_grams: int
    cold_chain: bool
    fragile: bool
    presale_ships_at: datetime | None = None
    stock: list[StockPublic]


class CancelIn(Strict):
    reason: SafeText = Field(min_length=1, max_length=500)


class RefundLineIn(Strict):
    sku: SafeText = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=100_000)


class RefundIn(Strict):
    """Neither `amount` nor `lines`: everything not yet refunded. `goodwill`: a fixed
    `amount` given back as a gesture, outside the refund window."""

    reason: SafeText = Field(min_length=1, max_length=500)
    amount: int | None = Field(None, gt=0, le=10**12, description="In minor units (cents)")
    lines: list[RefundLineIn] = Field(
        [], max_length=100, description="Delivered or returned units to refund at their price"
    )
    currency: str | None = Field(
        None, min_length=3, max_length=3, description="Must be the payment's, if given"
    )
    goodwill: bool = False

    @model_validator(mode="after")
    def _one_measure(self) -> RefundIn:
        if self.amount is not None and self.lines:
            raise ValueError("refund an amount or lines, not both")
        if self.goodwill and self.amount is None:
            raise ValueError("a goodwill refund is a fixed amount")
        return self


class RefundPublic(BaseModel):
    """A refund as its order answered it: `refunded`, or `parked` for finance (the provider
    refused or never answered; asking again with the same `Idempotency-Key` retries it)."""

    request_id: str
    status: RefundStatus
    amount: int
    currency: str
    refund_id: str | None = None
    note: str
    order: OrderPublic


class RefundEntry(BaseModel):
    """One row of the order's refunds ledger."""

    status: RefundStatus
    amount: int
    currency: str | None
    reason: str
    purpose: str | None = Field(None, description="What the refund was for; one per order")
    actor: str | None = None
    problem: str | None = Field(None, description="Why it is parked")
    provider_refund_id: str | None
    trace_id: str | None = Field(None, description="Shared with the payment it refunds")
    created_at: datetime
    updated_at: datetime | None


class ConfirmReceiptIn(Strict):
    """Nothing to say: who confirmed comes from the caller's token."""


class CarrierEventIn(Strict):
    kind: Literal["shipped", "delivered"]
    tracking_number: SafeText | None = Field(None, max_length=64)
    carrier: SafeText = Field("manual", min_length=1, max_length=32)


class Accepted(BaseModel):
    accepted: bool = True
    detail: str | None = None


class AlertPublic(BaseModel):
    id: int
    kind: AlertKind
    level: AlertLevel
    subject: str
    message: str
    role: AlertRole = Field(description="Who must act")
    created_at: datetime
    resolved_at: datetime | None = None


class AlertPage(BaseModel):
    items: list[AlertPublic]
    next_cursor: str | None


class StuckPackage(BaseModel):
    shipment_id: str
    order_id: str
    package: int
    carrier: str
    tracking_number: str | None
    stage: str = Field(description="The last stage reached: label_bought, packed, in_transit, ...")
    since: datetime
    stuck_minutes: int
    link: str


class StageHistory(BaseModel):
    samples: int
    mean_seconds: float
    stddev_seconds: float
    computed_at: datetime


class StageLimitPublic(BaseModel):
    stage: str = Field(description="pick, pack, handover or transit")
    responsible: str = Field(description="The role its alerts go to")
    configured_yellow_seconds: float
    configured_red_seconds: float
    history: StageHistory | None = Field(
        description="The last recomputation by the sla-statistics schedule, if any"
    )
    yellow_seconds: float = Field(description="What a shipment starting now uses")
    red_seconds: float
    source: str = Field(description="rules, or history once it has enough samples")


class ReceiptIn(Strict):
    reference: SafeText = Field(
        min_length=1, max_length=64, description="The delivery note: one booking per note"
    )
    sku: SafeText = Field(min_length=1, max_length=64)
    warehouse: SafeText = Field(min_length=1, max_length=32)
    quantity: int = Field(gt=0, le=1_000_000)


class ReceiptPublic(BaseModel):
    reference: str
    sku: str
    warehouse: str
    quantity: int
    on_hand: int = Field(description="At the warehouse after this receipt")
    available: int = Field(description="On hand less what orders hold")
    replayed: bool = Field(description="The note was booked before; nothing changed now")
    orders_told: int = Field(0, description="Backordered orders told to look again now")
