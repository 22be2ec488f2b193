"""The order's life cycle as a state machine."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import InvalidTransition


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    ALLOCATED = "allocated"
    FULFILLING = "fulfilling"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    ON_HOLD = "on_hold"


S = OrderStatus

RECEIVED_NOTE = "order received"

ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED, S.ON_HOLD}),
    S.PAID: frozenset({S.ALLOCATED, S.CANCELLED, S.REFUNDED, S.ON_HOLD}),
    S.ALLOCATED: frozenset({S.FULFILLING, S.CANCELLED, S.REFUNDED, S.ON_HOLD}),
    S.FULFILLING: frozenset({S.DELIVERED, S.ON_HOLD}),
    S.DELIVERED: frozenset({S.COMPLETED, S.REFUNDED, S.PARTIALLY_REFUNDED, S.ON_HOLD}),
    S.PARTIALLY_REFUNDED: frozenset({S.COMPLETED, S.REFUNDED, S.ON_HOLD}),
    S.ON_HOLD: frozenset({S.PAID, S.ALLOCATED, S.FULFILLING, S.CANCELLED, S.REFUNDED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}

FINAL_STATUSES = frozenset(s for s, nxt in ALLOWED_TRANSITIONS.items() if not nxt)


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(f"an order cannot go from {current} to {target}")


def is_final(status: OrderStatus) -> bool:
    return status in FINAL_STATUSES
