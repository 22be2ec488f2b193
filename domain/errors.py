"""Business errors. Each has a stable code, mapped once to HTTP statuses and Temporal failures."""

from __future__ import annotations


class OrderflowError(Exception):
    code = "orderflow_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(OrderflowError):
    """The request itself is wrong (a bad cursor, a bad signature): 400."""

    code = "invalid_request"


class InvalidOrder(OrderflowError):
    code = "invalid_order"


class UnknownSku(InvalidOrder):
    code = "unknown_sku"


class OutOfStock(OrderflowError):
    code = "out_of_stock"


class StockMoved(OutOfStock):
    """The units a plan counted on were taken between planning and reserving: plan again."""


class InvalidTransition(OrderflowError):
    code = "invalid_transition"


class OrderNotFound(OrderflowError):
    code = "order_not_found"


class UnknownCarrier(OrderflowError):
    code = "unknown_carrier"


class AlertNotFound(OrderflowError):
    code = "alert_not_found"


class ScanRefused(OrderflowError):
    """A scanned item that does not belong in the package, or one too many."""

    code = "scan_refused"


class IdempotencyConflict(OrderflowError):
    code = "idempotency_conflict"


class PaymentMismatch(OrderflowError):
    code = "payment_mismatch"


class ActionRefused(OrderflowError):
    """A request that is well formed but not possible in the order's current state."""

    code = "action_refused"
