"""The contract of the order workflow: its input, signals, updates, query and activity payloads.

Payloads carry IDs, SKUs and amounts only; personal data (names, addresses) and the payment's
client secret stay in the database and never enter workflow history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from domain.confirmation import ConfirmationRules, Region, ReminderKind
from domain.contract import PaymentVerdict
from domain.order import OrderStatus
from domain.rules import ChannelRules, SplitRules
from domain.sla import SlaRules
from domain.splitting import GeoPoint, Package, PlanLine, SplitPlan, WarehouseStock


class OrderPolicy(BaseModel):
    """Timings and rules captured when the order starts, so a running order keeps the rules it
    began with (and replays identically) whatever the merchant changes later."""

    payment_window: timedelta = timedelta(minutes=30)
    payment_poll_after: timedelta = timedelta(minutes=15)
    # Set: every order gets this window (demos, benchmarks); None: the region's window.
    confirmation_window: timedelta | None = None
    stock: ChannelRules = ChannelRules()
    splitting: SplitRules = SplitRules()
    confirmation: ConfirmationRules = ConfirmationRules()
    sla: SlaRules = SlaRules()


class OrderedLine(BaseModel):
    sku: str
    quantity: int = Field(gt=0)
    unit_price: int = Field(ge=0)
    # What the split planner needs of the product, frozen at intake.
    weight_grams: int = Field(0, ge=0)
    cold_chain: bool = False
    fragile: bool = False
    presale_ships_at: datetime | None = None  # presale: not shippable before this

    def for_planner(self) -> PlanLine:
        return PlanLine(**self.model_dump(exclude={"presale_ships_at"}))


class OrderWorkflowInput(BaseModel):
    order_id: str
    received_at: datetime
    channel: str
    customer_id: str
    currency: str
    amount: int
    lines: list[OrderedLine]
    policy: OrderPolicy = OrderPolicy()


# --- signals and updates -------------------------------------------------------------------


class PaymentNotification(BaseModel):
    """From the provider's webhook: a hint to check, never proof of payment."""

    payment_intent_id: str
    event_id: str | None = None


class CarrierEvent(BaseModel):
    kind: Literal["shipped", "delivered"]
    tracking_number: str | None = None
    carrier: str = "manual"


class StockArrived(BaseModel):
    """Goods were received: an order waiting on backorder looks for its stock at once."""

    sku: str
    warehouse: str


class ConfirmReceipt(BaseModel):
    by: str = "customer"  # the actor, from the caller's token (``Principal.actor``)


class CancelRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    by: str | None = None  # the actor, from the caller's token; None: the order's own process

    @property
    def signed(self) -> str:
        """Who asked, for the end of a timeline note ("" when the process itself did)."""
        return f" (by {self.by})" if self.by else ""


# --- query ---------------------------------------------------------------------------------


class TimelineEntry(BaseModel):
    status: OrderStatus
    at: datetime
    note: str | None = None


class PaymentView(BaseModel):
    """The payment as the order knows it. Its client secret (which lets the holder pay) is
    read from the payments table by the API; histories recorded with it still decode, as
    the field is ignored."""

    provider: str = "stripe"
    payment_intent_id: str
    amount: int
    currency: str
    status: str


class OrderSnapshot(BaseModel):
    order_id: str
    status: OrderStatus
    timeline: list[TimelineEntry]
    payment: PaymentView | None = None
    tracking_number: str | None = None
    confirm_by: datetime | None = None
    hold_reason: str | None = None
    packages: list[Package] = []
    refunded: int = 0  # minor units given back so far


# --- activity payloads ---------------------------------------------------------------------


class TransitionRecord(BaseModel):
    order_id: str
    seq: int
    status: OrderStatus
    at: datetime
    note: str | None = None


class StockRequest(BaseModel):
    order_id: str
    # Releasing: only this reservation round (None: everything the order holds).
    round: int | None = Field(None, ge=1)


class OrderPackages(BaseModel):
    """Some packages of an order: those the carrier brought back, or those a cancellation
    stopped before they left."""

    order_id: str
    packages: list[int]


class Allocation(BaseModel):
    sku: str
    warehouse: str
    quantity: int


class ReservationResult(BaseModel):
    allocations: list[Allocation]


class StockQuery(BaseModel):
    order_id: str
    skus: list[str]


class StockSnapshot(BaseModel):
    """What the planner needs from the database. The destination is rounded to a tenth of a
    degree (about 10 km): enough to choose a warehouse, too coarse to find a door."""

    destination: GeoPoint | None
    warehouses: list[WarehouseStock]


class PackageReservation(BaseModel):
    """Reserve every package of a plan, or nothing. ``round`` grows when an order reserves
    again after its earlier reservation was released (a pre-reservation that expired)."""

    order_id: str
    round: int = Field(1, ge=1)
    packages: list[Package]


class PlanRequest(BaseModel):
    """Plan the packages from live stock and reserve them, all or nothing, in one step (the
    order's fifth shape). ``round`` as in ``PackageReservation``."""

    order_id: str
    round: int = Field(1, ge=1)
    lines: list[PlanLine]
    splitting: SplitRules = SplitRules()


class PlannedReservation(BaseModel):
    """The plan whose stock is now reserved, or why the order can't be served (nothing
    reserved)."""

    plan: SplitPlan | None = None
    problem: str | None = None

    @model_validator(mode="after")
    def _plan_or_problem(self) -> PlannedReservation:
        if (self.plan is None) == (self.problem is None):
            raise ValueError("a planned reservation has either its plan or its problem")
        return self


class PackagesRecord(BaseModel):
    """Written together: the packages, the customer's message and the allocated state (and
    the paid state before it, when the order had nothing to wait for in between)."""

    paid: TransitionRecord | None = None
    transition: TransitionRecord
    customer_id: str
    packages: list[Package]
    message: str


class CreatePaymentRequest(BaseModel):
    order_id: str
    customer_id: str
    amount: int
    currency: str


class PaymentCheckRequest(BaseModel):
    order_id: str
    payment_intent_id: str
    amount: int
    currency: str


class PaymentCheck(BaseModel):
    """The provider's own answer about a payment, compared with what the order expects."""

    payment_intent_id: str
    status: str
    amount: int
    currency: str
    verdict: PaymentVerdict
    reason: str | None = None


class RefundRequest(BaseModel):
    order_id: str
    payment_intent_id: str
    amount: int
    reason: str
    # What the money is for ("cancel", "packages-2", "refund-<request>"): one refund per
    # purpose, whatever the retries.
    purpose: str
    currency: str | None = None  # for the ledger; None: the payment's
    by: str | None = None  # who asked, for the ledger; None: the order's own process
    units: dict[str, int] | None = None  # the units it gives back, when it refunds lines


class RefundMade(BaseModel):
    """What the provider gave back for a request, before the ledger knows."""

    request: RefundRequest
    refund_id: str
    amount: int


class ParkedRefund(BaseModel):
    """A refund the provider refused or never answered: in the ledger as parked, and an
    alert for finance."""

    refund: RefundRequest
    problem: str


class RefundResult(BaseModel):
    refund_id: str
    amount: int


class ConfirmationQuery(BaseModel):
    order_id: str
    customer_id: str
    rules: ConfirmationRules


class WindowOpening(BaseModel):
    """The delivery that opens the customer's window: its terms are looked up and its
    reminders scheduled, to go out from the notification outbox while the order waits."""

    order_id: str
    customer_id: str
    rules: ConfirmationRules
    delivered_at: datetime
    window: timedelta | None = None  # the order's own, instead of its region's


class ConfirmationTerms(BaseModel):
    """The order's window, from where its packages left to where they arrived (the places
    themselves stay in the database)."""

    region: Region
    window: timedelta
    confirm_on_delivery: bool  # the customer is tagged low-activity


class ReminderRequest(BaseModel):
    order_id: str
    customer_id: str
    kind: ReminderKind
    confirm_by: datetime


class ConfirmationRecord(BaseModel):
    """Written together: how the window ended, the customer's tag, and the completed row."""

    transition: TransitionRecord
    customer_id: str
    automatic: bool  # the window ran out unconfirmed
    rules: ConfirmationRules


class AuditRecord(BaseModel):
    """An order sent to the audit queue (or taken out of it), with the timeline row."""

    transition: TransitionRecord
    doubts: list[str]


class PresaleNotice(BaseModel):
    order_id: str
    customer_id: str
    package: int
    skus: list[str]
    ships_at: datetime


# --- scheduled work ---------------------------------------------------------------------------


class OutboxRequest(BaseModel):
    # The run's time, from its workflow: reminders fall due in the order's workflow time.
    as_of: datetime | None = None
    # Younger notifications are still being sent by the step that wrote them.
    grace: timedelta = timedelta(minutes=2)
    # Due longer ago than this, they are no use to the customer any more.
    max_age: timedelta = timedelta(days=3)
    max_attempts: int = Field(10, ge=1)
    batch: int = Field(500, ge=1)


class OutboxReport(BaseModel):
    sent: int = 0
    failed: int = 0
    given_up: int = 0
