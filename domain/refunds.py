"""Refunds on a running order: what may be given back, and how much.

Pure rules. The order workflow's update validator applies them to answer the caller at once,
and its handler applies them again under the order's lock, because another refund may have
taken the units (or the money) between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from domain.errors import ActionRefused, Forbidden
from domain.money import format_amount


class RefundKind(StrEnum):
    REFUND = "refund"  # what the customer paid for: lines, an amount, or everything left
    GOODWILL = "goodwill"  # a fixed amount given back as a gesture, outside the window


class RefundStatus(StrEnum):
    REFUNDED = "refunded"
    PARKED = "parked"  # the provider refused or never answered: finance has an alert


class RefundLine(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=100_000)


class RefundOrder(BaseModel):
    """Support's or finance's refund, as the order's ``refund`` update takes it.

    No ``amount`` and no ``lines`` refunds everything not yet refunded. ``request_id`` names
    the request: asked again with the same ID, the order answers the first answer (a parked
    refund is tried again), and the provider is asked under the same idempotency key.
    """

    request_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    reason: str = Field(min_length=1, max_length=500)
    by: str | None = None  # the actor, from the caller's token
    kind: RefundKind = RefundKind.REFUND
    amount: int | None = Field(None, gt=0)
    lines: list[RefundLine] = Field(default_factory=list, max_length=100)
    currency: str | None = Field(None, min_length=3, max_length=3)
    # The most this caller may give back in one refund (support's limit); None: no limit.
    limit: int | None = None  # counted with what the order already gave back

    @property
    def measure(self) -> str:
        """What the request asks for, to tell a repeat from another request under its ID."""
        lines = ",".join(f"{line.quantity}x{line.sku}" for line in sorted(self.lines, key=str))
        return f"{self.kind}|{self.amount}|{lines}|{(self.currency or '').lower()}"

    @model_validator(mode="after")
    def _one_measure(self) -> RefundOrder:
        if self.amount is not None and self.lines:
            raise ValueError("refund an amount or lines, not both")
        if self.kind is RefundKind.GOODWILL and self.amount is None:
            raise ValueError("a goodwill refund is a fixed amount")
        return self


class RefundOutcome(BaseModel):
    """What became of a refund: the caller's answer, and the order's memory of it."""

    request_id: str
    status: RefundStatus
    amount: int
    currency: str
    note: str  # the timeline's words for it
    refund_id: str | None = None  # the provider's, once the money moved
    measure: str = ""  # what was asked (``RefundOrder.measure``)


@dataclass(frozen=True)
class Refundable:
    """What an order could still give back, as its workflow knows it."""

    captured: int
    currency: str
    refunded: int  # given back already (or being given back now)
    units: dict[str, int]  # per SKU: delivered or come back, not refunded yet
    prices: dict[str, int]  # per SKU: what one unit cost
    window_ends: datetime


@dataclass(frozen=True)
class RefundPlan:
    amount: int
    units: dict[str, int]  # the units this refund gives back, per SKU
    what: str  # for the timeline: "2 × TEA-001", "an amount", "everything left"


def plan_refund(ask: RefundOrder, can: Refundable, now: datetime) -> RefundPlan:
    """The refund ``ask`` makes of what the order ``can`` give back, or the business error
    that says why not (``ActionRefused``: 409; ``Forbidden``: 403, above the caller's limit)."""
    money = _Money(can.currency)
    left = can.captured - can.refunded
    if ask.currency is not None and ask.currency.lower() != can.currency.lower():
        raise ActionRefused(
            f"the order was paid in {can.currency.upper()}; it is refunded in it too"
        )
    if left <= 0:
        raise ActionRefused("everything paid for this order has been refunded")
    if ask.kind is RefundKind.REFUND and now > can.window_ends:
        raise ActionRefused(
            f"the refund window ended {can.window_ends:%Y-%m-%d %H:%M} UTC; "
            "support may still give a goodwill refund"
        )
    units: dict[str, int] = {}
    if ask.lines:
        for line in ask.lines:
            units[line.sku] = units.get(line.sku, 0) + line.quantity
        for sku, quantity in units.items():
            if sku not in can.prices:
                raise ActionRefused(f"{sku} is not in this order")
            if quantity > can.units.get(sku, 0):
                raise ActionRefused(
                    f"{quantity} × {sku} asked; {can.units.get(sku, 0)} can be refunded "
                    "(delivered or come back, and not refunded yet)"
                )
        amount = sum(can.prices[sku] * quantity for sku, quantity in units.items())
        what = ", ".join(f"{quantity} × {sku}" for sku, quantity in sorted(units.items()))
        if amount > left:
            raise ActionRefused(
                f"{what} cost {money(amount)}; {money(left)} is left to refund: "
                "refund an amount instead"
            )
    elif ask.amount is not None:
        amount, what = ask.amount, "an amount" if ask.kind is RefundKind.REFUND else "goodwill"
        if amount > left:
            raise ActionRefused(f"{money(amount)} asked; {money(left)} is left to refund")
    else:
        amount, what, units = left, "everything left", dict(can.units)
    # Per order, as for cancelling: pieces under the limit must not add up past it.
    if ask.limit is not None and can.refunded + amount > ask.limit:
        raise Forbidden(
            f"refunding {money(amount)} brings this order's refunds to "
            f"{money(can.refunded + amount)}, above support's limit of {money(ask.limit)}: "
            "finance refunds it"
        )
    return RefundPlan(amount=amount, units=units, what=what)


@dataclass(frozen=True)
class _Money:
    currency: str

    def __call__(self, amount: int) -> str:
        return format_amount(amount, self.currency)
