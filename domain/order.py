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
    ON_HOLD = "on_hold"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


S = OrderStatus

RECEIVED_NOTE = "order received"

# Only the moves the order's process makes: the replay test checks that a recorded order takes
# each of them, so a state or a move that nothing enters can't linger here.
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED, S.ON_HOLD}),  # on hold: a mismatch
    S.PAID: frozenset({S.ALLOCATED, S.CANCELLED, S.ON_HOLD}),  # no stock: refund or hold
    S.ALLOCATED: frozenset({S.FULFILLING, S.CANCELLED, S.ON_HOLD}),  # a parcel blocked
    S.FULFILLING: frozenset({S.DELIVERED, S.ON_HOLD}),  # a carrier exception, a return
    S.DELIVERED: frozenset({S.COMPLETED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    # The parcel moves again; or support cancels, or settles a parcel that came back by a
    # refund.
    S.ON_HOLD: frozenset({S.FULFILLING, S.CANCELLED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.REFUNDED, S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}

FINAL_STATUSES = frozenset(s for s, nxt in ALLOWED_TRANSITIONS.items() if not nxt)
# Delivered and not yet confirmed: the customer may confirm receipt, and reminders go out.
AWAITING_RECEIPT = (S.DELIVERED, S.PARTIALLY_REFUNDED)


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(f"an order cannot go from {current} to {target}")


def is_final(status: OrderStatus) -> bool:
    return status in FINAL_STATUSES
