"""Tables. Money in minor units (integers); every timestamp is stored in UTC."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from domain.contract import MovementKind, ParcelTracker
from store.encryption import EncryptedJSON, EncryptedText


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; orderflow stores UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_trace_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[int] = mapped_column(BigInteger, CheckConstraint("price >= 0"))
    currency: Mapped[str] = mapped_column(String(3))
    weight_grams: Mapped[int] = mapped_column(Integer, CheckConstraint("weight_grams >= 0"))
    cold_chain: Mapped[bool] = mapped_column(default=False)
    fragile: Mapped[bool] = mapped_column(default=False)
    # Presale: not in the warehouse before this time (UTC); None for goods on the shelf.
    presale_ships_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Warehouse(Base):
    __tablename__ = "warehouses"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float]
    lon: Mapped[float]
    city: Mapped[str | None] = mapped_column(String(100))
    province: Mapped[str | None] = mapped_column(String(100))


class StockLevel(Base):
    """On hand and reserved per SKU and warehouse; available = on_hand - reserved, never < 0."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("reserved >= 0", name="ck_stock_reserved_non_negative"),
        CheckConstraint("on_hand >= reserved", name="ck_stock_available_non_negative"),
    )

    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), primary_key=True)
    warehouse: Mapped[str] = mapped_column(ForeignKey("warehouses.code"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    # Available units at or below this raise a low-stock alert; None: the rules' default.
    low_stock_threshold: Mapped[int | None] = mapped_column(Integer)


class StockEffect(NamedTuple):
    on_hand: int
    reserved: int


# What one unit of each kind does to its stock level. A stock level must always equal its
# ledger summed through this table, so a new kind cannot be added without saying its effect.
MOVEMENT_EFFECTS: dict[MovementKind, StockEffect] = {
    MovementKind.RECEIPT: StockEffect(on_hand=1, reserved=0),
    MovementKind.RESERVE: StockEffect(on_hand=0, reserved=1),
    MovementKind.RELEASE: StockEffect(on_hand=0, reserved=-1),
    MovementKind.SHIP: StockEffect(on_hand=-1, reserved=-1),
    MovementKind.RESTOCK: StockEffect(on_hand=1, reserved=0),
    MovementKind.QUARANTINE: StockEffect(on_hand=0, reserved=0),
}


def ledger_balance(units: Mapping[str, int]) -> StockEffect:
    """The stock level that a ledger's units per kind add up to."""
    unknown = set(units) - set(MovementKind)
    if unknown:
        raise ValueError(f"stock movements of unknown kinds: {sorted(unknown)}")
    return StockEffect(
        on_hand=sum(MOVEMENT_EFFECTS[k].on_hand * units.get(k, 0) for k in MovementKind),
        reserved=sum(MOVEMENT_EFFECTS[k].reserved * units.get(k, 0) for k in MovementKind),
    )


class StockMovement(Base):
    """The stock ledger: every change to a stock level is a row naming the order behind it.

    ``kind`` is a ``MovementKind``; ``MOVEMENT_EFFECTS`` says what it does to the level. The
    unique key makes each movement happen once: for an order's reservation the reference is
    ``<order>/<round>/<package>``, so a retried activity never reserves twice while a new
    round (after a pre-reservation expired) can.
    """

    __tablename__ = "stock_movements"
    __table_args__ = (
        UniqueConstraint("reference", "sku", "warehouse", "kind", name="uq_stock_movement_once"),
        CheckConstraint("quantity > 0", name="ck_stock_movement_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(128), index=True)
    order_id: Mapped[str | None] = mapped_column(String(100), index=True)
    package: Mapped[int | None] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    warehouse: Mapped[str] = mapped_column(ForeignKey("warehouses.code"))
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReservationPlan(Base):
    """The packages a reservation round holds stock for, written with the reservation: the
    round's step, run again after its commit, returns this plan instead of planning anew from
    stock its first run already took. A second plan for a round is refused, so a round
    reserves once whatever the retries."""

    __tablename__ = "reservation_plans"

    order_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    packages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # ``domain.splitting.Package``
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Personal data: sealed at rest (store/encryption.py).
    email: Mapped[str] = mapped_column(EncryptedText("customers.email"))
    name: Mapped[str] = mapped_column(EncryptedText("customers.name"))
    # Let the confirmation window run out several times in a row: orders confirm on delivery.
    low_activity: Mapped[bool] = mapped_column(default=False, server_default=false())


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_listing", "created_at", "id"),
        Index("ix_orders_status", "status"),
        Index("ix_orders_channel", "channel"),
        Index("ix_orders_customer", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(BigInteger)
    # The recipient's name, phone and address: sealed at rest.
    shipping_address: Mapped[dict[str, Any]] = mapped_column(
        EncryptedJSON("orders.shipping_address")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    timeline: Mapped[list[OrderEvent]] = relationship(order_by="OrderEvent.seq")


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity: Mapped[int] = mapped_column(Integer, CheckConstraint("quantity > 0"))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    line_total: Mapped[int] = mapped_column(BigInteger)

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderEvent(Base):
    """The order's timeline: one row per state change, stamped in UTC by the workflow."""

    __tablename__ = "order_events"
    __table_args__ = (UniqueConstraint("order_id", "seq", name="uq_order_event_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)


class Payment(Base):
    """One row per provider payment; the unique provider ID makes duplicate callbacks harmless."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_payment_id: Mapped[str] = mapped_column(String(255), unique=True)
    # Lets whoever holds it complete the payment: sealed at rest.
    client_secret: Mapped[str] = mapped_column(EncryptedText("payments.client_secret"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    # Shared by the payment and all its refunds in the ledger (NULL only for a row a worker
    # older than the column wrote during a rolling release).
    trace_id: Mapped[str | None] = mapped_column(String(32), unique=True, default=new_trace_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The captured charge's fingerprint for reconciliation (None until captured).
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)


class EventOutcome(StrEnum):
    """Where a recorded provider event stands (``PaymentEvent.outcome``)."""

    PENDING = "pending"  # claimed: one request is handing it to the workflow now
    DELIVERED = "delivered"
    UNKNOWN_ORDER = "unknown_order"  # no running workflow for the order it names
    FAILED = "failed"  # the workflow service was down; the provider's retry may claim it again


class PaymentEvent(Base):
    """A provider's event, recorded at the door so that each one reaches its order once.

    ``(provider, provider_event_id)`` is unique: however many copies of an event arrive, one
    request claims it and ``outcome`` (an ``EventOutcome``) says how that went. ``order_id`` is
    the event's word, not a foreign key: a signed event may name an order we don't have.
    """

    __tablename__ = "payment_events"
    __table_args__ = (
        UniqueConstraint("provider", "provider_event_id", name="uq_payment_event_once"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(64))
    provider_payment_id: Mapped[str] = mapped_column(String(255))
    order_id: Mapped[str | None] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookLog(Base):
    """Every webhook the API received, kept ``webhook_log_days`` for ``orderflow webhooks``.

    Raw as it came (``body`` cut at ``store.webhook_log.MAX_BODY_BYTES``; ``body_size`` is the
    size received), so a replay sends the same bytes. Stripe bodies hold our order and customer
    IDs and amounts, carrier reports tracking numbers: no names or addresses. ``event_id`` is
    the provider's word, read from the body even when its signature failed; ``replay_of`` the
    row a replay re-sent (not a foreign key: that row may be purged first).
    """

    __tablename__ = "webhook_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))  # "stripe" | "carrier:<name>"
    event_id: Mapped[str | None] = mapped_column(String(255), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    signature: Mapped[str | None] = mapped_column(Text)
    signature_ok: Mapped[bool]
    status: Mapped[int] = mapped_column(Integer)  # the API's answer
    body: Mapped[bytes]
    body_size: Mapped[int] = mapped_column(Integer)
    replay_of: Mapped[int | None] = mapped_column(Integer)


class Refund(Base):
    """The refunds ledger: one row per refund an order made, under the purpose that names
    it ("cancel", "packages-2", "refund-<request>": unique per order, so a retry finds its
    row). A refund the provider refused or never answered stays ``parked`` (a
    ``RefundStatus``) until a retry succeeds. ``trace_id`` is its payment's: one ID follows
    the money in and every part of it out."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("order_id", "purpose", name="uq_refund_purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    provider_payment_id: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str | None] = mapped_column(String(160))
    status: Mapped[str] = mapped_column(String(16), default="refunded", server_default="refunded")
    actor: Mapped[str | None] = mapped_column(String(100))
    problem: Mapped[str | None] = mapped_column(Text)  # why it is parked
    # The units it gave back, per SKU, when it refunded lines (a return, a refund by lines).
    units: Mapped[dict[str, int] | None] = mapped_column(JSON)
    trace_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    # The refund's fingerprint for reconciliation, once the provider made it.
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)


class AddressChangeRow(Base):
    """A request to send an order elsewhere: the new address (sealed), and what became of
    it (an ``AddressChangeStatus``)."""

    __tablename__ = "address_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    address: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("address_changes.address"))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReturnRow(Base):
    """One RMA: what the customer sends back, its label, and each step's time. Its workflow
    is ``ReturnWorkflow`` (``return-<rma>``); this row is what the API lists."""

    __tablename__ = "returns"

    rma: Mapped[str] = mapped_column(String(120), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # a ReturnStatus
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"sku": .., "quantity": ..}]
    warehouse: Mapped[str] = mapped_column(ForeignKey("warehouses.code"))
    amount: Mapped[int] = mapped_column(BigInteger)  # what passing refunds
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(100))
    carrier: Mapped[str | None] = mapped_column(String(32))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An exchange: the replacement (package, warehouse, lines) and what it costs more.
    replacement: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    difference: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    client_secret: Mapped[str | None] = mapped_column(EncryptedText("returns.client_secret"))


class StatementLineRow(Base):
    """The provider's statement as pulled, apart from our own tables (staging): one row per
    line, keyed by the provider's ID, so a page pulled twice stores nothing twice."""

    __tablename__ = "statement_lines"
    __table_args__ = (UniqueConstraint("provider", "line_id", name="uq_statement_line_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32))
    line_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    source_id: Mapped[str] = mapped_column(String(255))
    payment_id: Mapped[str | None] = mapped_column(String(255), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    pull_id: Mapped[int] = mapped_column(ForeignKey("statement_pulls.id"))
    # Its payment's trace when pulled (None: not ours, or not yet), and the fingerprint of
    # its movement (None: not a charge or a refund): what the three-way match counts.
    trace_id: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)


class StatementPull(Base):
    """One pull of a provider's statement, newest line first, down to a little before the
    newest line the last finished pull saw (lines of one second may come in any order; the
    overlap is stored once). ``cursor`` is the last line read: a pull cut short goes on from
    there."""

    __tablename__ = "statement_pulls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cursor: Mapped[str | None] = mapped_column(String(255))
    newest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its newest line's time
    stop_before: Mapped[datetime | None] = mapped_column(UTCDateTime)  # older lines: done
    lines: Mapped[int] = mapped_column(Integer, default=0)


class ReconciliationRun(Base):
    """One reconciliation run: what it compared, who or what started it, what it found."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # a ReconciliationKind
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    differences: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str | None] = mapped_column(String(100))  # None: its schedule
    new_differences: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    repaired: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    compared: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    provider: Mapped[str | None] = mapped_column(String(32))  # a payments run's


class ReconciliationDifference(Base):
    __tablename__ = "reconciliation_differences"
    __table_args__ = (
        UniqueConstraint("run_id", "kind", "subject", name="uq_difference_once"),
        Index("ix_reconciliation_differences_kind_subject", "kind", "subject"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # a DifferenceClass
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)
    order_id: Mapped[str | None] = mapped_column(String(100))
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # a payments difference's
    # The run that found it first: a difference still there in a later run is not new, and
    # its age is counted from that run.
    first_run_id: Mapped[int | None] = mapped_column(Integer)
    repaired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class FinanceEntry(Base):
    """The finance ledger, double-entry: one row per account a movement of money touches,
    written in the transaction that records the movement. ``source`` is the provider's ID
    of the charge or refund: with the account, unique, so a retried step books nothing
    twice. ``trace_id`` is the payment's, shared with its refunds."""

    __tablename__ = "finance_entries"
    __table_args__ = (UniqueConstraint("source", "account", name="uq_finance_entry_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trace_id: Mapped[str | None] = mapped_column(String(32), index=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # an EntryKind
    account: Mapped[str] = mapped_column(String(16))  # an Account
    debit: Mapped[int] = mapped_column(BigInteger, default=0)
    credit: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(255))
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # On the leg that carries the movement (a charge's receivable debit, a refund's refunds
    # debit): its fingerprint for reconciliation.
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True)


class Package(Base):
    """A sub-order: what one parcel carries, where from, and why the planner made it."""

    __tablename__ = "packages"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    warehouse: Mapped[str] = mapped_column(ForeignKey("warehouses.code"))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"sku": .., "quantity": ..}]
    reasons: Mapped[list[str]] = mapped_column(JSON)
    weight_grams: Mapped[int] = mapped_column(Integer)
    value: Mapped[int] = mapped_column(BigInteger)
    cold_chain: Mapped[bool] = mapped_column(default=False)
    fragile: Mapped[bool] = mapped_column(default=False)
    insured: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """A message to a customer, written once per ``(order_id, key)``; the outbox delivers
    those still unsent once they are due (a reminder is written when the window opens, due
    days later)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("order_id", "key", name="uq_notification_once"),
        Index("ix_notifications_unsent", "sent_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(64))  # the customer's ID
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # not sent before
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: not delivered yet
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Alert(Base):
    """Something a person must look at. ``open_key`` is unique while the alert is open, so a
    condition that persists raises one alert, and once resolved it can be raised again."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_listing", "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))  # who must act: warehouse, support, finance
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SlaStatistic(Base):
    """Recent durations of one stage of a parcel's way (``domain.sla.Stage``), recomputed on
    a schedule; new shipments derive their yellow and red limits from it."""

    __tablename__ = "sla_statistics"

    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    mean_seconds: Mapped[float] = mapped_column(Float)
    stddev_seconds: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# A key no table outgrows: BIGINT on PostgreSQL; SQLite's INTEGER is 64-bit already, and only
# INTEGER PRIMARY KEY numbers itself there.
BigKey = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    """One call someone may have to answer for: every call that changes something (refused
    ones too) and every read of personal data or an export (``api/audit_trail.py``).

    Append-only: the repository can only add, page and purge; database triggers (migration
    0011) refuse any UPDATE, and any DELETE of a row younger than the shortest retention.
    ``order_id`` is the call's word, not a foreign key: the log outlives what it names.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor", "actor", "id"),
        Index("ix_audit_log_order", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))  # role:subject, "anonymous", webhook:...
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(200))  # the route: "POST /orders/{order_id}/cancel"
    path: Mapped[str] = mapped_column(String(500))  # as called, without the query string
    order_id: Mapped[str | None] = mapped_column(String(100))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[int] = mapped_column(Integer)  # the HTTP status answered
    request_id: Mapped[str] = mapped_column(String(64))


class Export(Base):
    """An export of orders for finance (``domain/exports.py``): requested by one person,
    approved by another, at which moment its pages are written once and for all."""

    __tablename__ = "exports"
    __table_args__ = (Index("ix_exports_requested", "requested_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(200))  # an actor
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_from: Mapped[datetime] = mapped_column(UTCDateTime)  # orders created in [from, until)
    created_until: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # an ExportStatus
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    row_count: Mapped[int | None] = mapped_column(Integer)
    page_count: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))  # of the pages, concatenated
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the nightly link, once


class ExportPage(Base):
    """A page of an approved export, exactly as it is served."""

    __tablename__ = "export_pages"

    export_id: Mapped[str] = mapped_column(ForeignKey("exports.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)  # from 1
    rows: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)


class ConfirmationOutcome(Base):
    """How an order's confirmation window ended; the customer's recent ones decide the
    low-activity tag. One row per order, so a retried activity counts once."""

    __tablename__ = "confirmation_outcomes"
    __table_args__ = (Index("ix_confirmation_outcomes_customer", "customer_id", "at"),)

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    automatic: Mapped[bool]  # the window ran out unconfirmed
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Shipment(Base):
    """One parcel of an order with its carrier: label, tracking number and stage stamps.

    ``transaction_id`` is the package's reservation reference (``<order>/<round>/<package>``),
    the same key its ledger rows carry, so order, stock and shipment are found together.
    """

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("order_id", "package", name="uq_shipment_package"),)

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    package: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str] = mapped_column(String(32))
    label_id: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(64), unique=True)
    transaction_id: Mapped[str] = mapped_column(String(160), index=True)
    status: Mapped[str] = mapped_column(String(32))
    # The workflow carriers' reports and warehouse scans go to (``ParcelTracker``).
    tracked_by: Mapped[str] = mapped_column(
        String(16), default=ParcelTracker.SHIPMENT, server_default=ParcelTracker.SHIPMENT
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    label_bought_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the warehouse could start: payment, or later when presale goods can ship.
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pick_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first scan
    packed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # every unit scanned
    picked_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    in_transit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    out_for_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exception_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # moving after an exception
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccessToken(Base):
    """Every bearer token issued: who holds it, until when, and whether it was revoked.

    The token itself is never stored, only its ID (the JWT's ``jti``).
    """

    __tablename__ = "access_tokens"
    __table_args__ = (Index("ix_access_tokens_revoked", "revoked_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(32))
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiClient(Base):
    """A storefront or marketplace that gets its tokens with its own credentials (OAuth2
    client credentials). Only a hash of the secret is kept."""

    __tablename__ = "api_clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
