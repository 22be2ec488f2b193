"""Reconciliation: what a run compares, and the differences it can find.

Stock: each stock level against the sum of its ledger movements, and every reservation
against its order (one still held by an order that has ended is a leak). Nothing is changed
automatically: each difference alerts the warehouse.

Payments, three ways: the provider's statement, our payments and refunds, and the finance
ledger. Each side's movements (a charge or a refund) are fingerprinted by their normalized
key — trace ID, kind, amount in minor units, currency — and a fingerprint seen as many
times on every side is matched. The rest are grouped by the provider's ID of the movement
(``ref``) and classified here, one difference per movement. A refund made at the provider's
dashboard ("refund not synced") is repaired; every other difference alerts finance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.money import format_amount


class ReconciliationKind(StrEnum):
    STOCK = "stock"
    PAYMENTS = "payments"


class DifferenceClass(StrEnum):
    LEVEL_MISMATCH = "level_mismatch"  # a stock level is not what its ledger adds up to
    LEAKED_RESERVATION = "leaked_reservation"  # units still held for an order that ended
    MISSING_AT_PROVIDER = "missing_at_provider"  # we recorded money the provider never moved
    MISSING_IN_ORDERS = "missing_in_orders"  # the provider moved money no order knows
    MISSING_IN_LEDGER = "missing_in_ledger"  # an order's money the ledger never booked
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    DUPLICATE_BOOKING = "duplicate_booking"  # the ledger booked the same money twice
    REFUND_NOT_SYNCED = "refund_not_synced"  # refunded at the provider's dashboard: repaired


class Side(StrEnum):
    PROVIDER = "provider"
    ORDERS = "orders"
    LEDGER = "ledger"


class Movement(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"


class Difference(BaseModel):
    kind: DifferenceClass
    subject: str  # "TEA-001@HZ", the order a leak belongs to, a movement's provider ID
    detail: str
    order_id: str | None = None
    fingerprint: str | None = None


class ReconciliationRequest(BaseModel):
    """A run's input: started by its schedule (no ``run_id``: it opens its own) or by a
    person (``run_id``: the row the API opened, and who asked)."""

    kind: ReconciliationKind = ReconciliationKind.STOCK
    run_id: int | None = None
    by: str | None = None
    provider: str = "stripe"  # whose statement a payments run reads
    # How late one side may record a movement the other has: younger differences wait.
    grace: timedelta = timedelta(hours=1)
    pull: bool = True  # a payments run pulls the statement first (a file's was loaded)


class RunSummary(BaseModel):
    run_id: int
    kind: ReconciliationKind
    started_at: datetime
    finished_at: datetime | None = None
    differences: int = Field(0, ge=0)
    new_differences: int = Field(0, ge=0)  # not found by an earlier run
    repaired: int = Field(0, ge=0)
    compared: int = Field(0, ge=0)  # movements looked at (payments)
    by: str | None = None


class FoundRefund(BaseModel):
    """A refund made at the provider that no order knew, now in the refunds ledger and the
    finance ledger: its order's workflow, if it still runs, is told (``refund_found``)."""

    order_id: str
    refund_id: str
    amount: int
    currency: str
    run_id: int

    @property
    def note(self) -> str:
        money = format_amount(self.amount, self.currency)
        return (
            f"refunded {money} at the provider ({self.refund_id}), outside orderflow; "
            f"found by reconciliation run {self.run_id}"
        )


class PaymentsReconciled(BaseModel):
    summary: RunSummary
    running: list[FoundRefund] = []  # repaired refunds whose orders still run


class ClassHealth(BaseModel):
    kind: DifferenceClass
    open: int  # still there in the month's last run
    oldest_days: float  # since the run that first found the oldest of them
    mean_age_days: float


class HealthReport(BaseModel):
    """A month of payments reconciliation, for finance: how much matched, what is still
    open (by class, and how old), how much repaired itself."""

    month: str  # "2026-11"
    runs: int
    compared: int
    differences: int
    match_rate: float  # 1 - differences / compared, over the month's runs
    repaired: int
    by_class: list[ClassHealth]


class ReportRequest(BaseModel):
    """The monthly report: of ``month`` ("2026-11"), else of the month before this one."""

    month: str | None = None
    mail_to: str | None = None


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """ "2026-11" → its first instant and the next month's, in UTC; ValueError if malformed."""
    try:
        starts = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not a month like 2026-11: {month!r}") from None
    ends = (
        starts.replace(year=starts.year + 1, month=1)
        if starts.month == 12
        else starts.replace(month=starts.month + 1)
    )
    return starts, ends


def month_before(now: datetime) -> str:
    first = now.replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def fingerprint(trace_id: str | None, kind: Movement, amount: int, currency: str) -> str:
    """SHA-256 of the movement's normalized key, as hex (how a difference shows it)."""
    return digest(trace_id, kind, amount, currency).hex()


def digest(trace_id: str | None, kind: Movement, amount: int, currency: str) -> bytes:
    """The fingerprint as stored beside each movement when it is written."""
    return hashlib.sha256(normalized_key(trace_id, kind, amount, currency).encode()).digest()


# How a provider's statement names the movements matched (the rest: fees, payouts...).
STATEMENT_MOVEMENTS = {
    "charge": Movement.CHARGE,
    "payment": Movement.CHARGE,
    "refund": Movement.REFUND,
    "payment_refund": Movement.REFUND,
}


def normalized_key(trace_id: str | None, kind: Movement, amount: int, currency: str) -> str:
    return f"{trace_id or ''}|{kind.value}|{abs(amount)}|{currency.lower()}"


@dataclass(frozen=True)
class Seen:
    """One side's view of one movement."""

    side: Side
    ref: str  # the provider's ID: a charge's payment, a refund's own
    kind: Movement
    trace_id: str | None
    amount: int  # minor units, positive
    currency: str
    order_id: str | None
    at: datetime
    fingerprint: str
    elsewhere_at_provider: bool = False  # the provider has this fingerprint under another ref


@dataclass(frozen=True)
class Found:
    """A difference and, for a refund not synced, what repairing it takes."""

    difference: Difference
    repair: Seen | None = None


def classify(views: Sequence[Seen]) -> Found | None:
    """What one movement's views (all of one ``ref``) say, or None when they agree."""
    by_side = {view.side: view for view in views}
    provider, orders, ledger = (by_side.get(side) for side in Side)
    first = views[0]
    money = f"{first.kind} {first.ref}"

    def found(kind: DifferenceClass, detail: str, repair: Seen | None = None) -> Found:
        order_id = next((view.order_id for view in views if view.order_id), None)
        difference = Difference(
            kind=kind,
            subject=first.ref,
            detail=f"{money}: {detail}",
            order_id=order_id,
            fingerprint=(provider or orders or first).fingerprint,
        )
        return Found(difference, repair)

    listed = sum(view.side is Side.PROVIDER for view in views)
    if listed > 1:  # our sides hold one row per provider ID
        return found(DifferenceClass.MISSING_IN_ORDERS, f"listed {listed} times at the provider")
    if provider is not None and orders is None:
        if provider.kind is Movement.REFUND and provider.trace_id and ledger is None:
            return found(
                DifferenceClass.REFUND_NOT_SYNCED,
                f"refunded {_money(provider)} at the provider; no order knew",
                repair=provider,
            )
        return found(DifferenceClass.MISSING_IN_ORDERS, f"{_money(provider)} at the provider")
    if orders is not None and provider is None:
        return found(DifferenceClass.MISSING_AT_PROVIDER, f"{_money(orders)} in the orders")
    if provider is None and orders is None:
        assert ledger is not None
        if ledger.elsewhere_at_provider:
            return found(
                DifferenceClass.DUPLICATE_BOOKING,
                f"{_money(ledger)} booked again; the provider moved it once",
            )
        return found(DifferenceClass.MISSING_IN_ORDERS, f"{_money(ledger)} only in the ledger")
    assert provider is not None and orders is not None
    if ledger is None:
        return found(DifferenceClass.MISSING_IN_LEDGER, f"{_money(orders)} never booked")
    if provider.fingerprint == orders.fingerprint == ledger.fingerprint:
        return None
    sides = (provider, orders, ledger)
    said = ", ".join(f"{view.side} {_money(view)}" for view in sides)
    if len({view.currency.lower() for view in sides}) > 1:
        return found(DifferenceClass.CURRENCY_MISMATCH, said)
    if len({view.amount for view in sides}) > 1:
        return found(DifferenceClass.AMOUNT_MISMATCH, said)
    return found(DifferenceClass.MISSING_IN_LEDGER, f"booked under another trace: {said}")


def _money(view: Seen) -> str:
    return format_amount(view.amount, view.currency)
