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


class UnknownWarehouse(InvalidOrder):
    code = "unknown_warehouse"


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


class Unauthenticated(OrderflowError):
    """No token, or one that is forged, expired, revoked or unreadable: 401."""

    code = "unauthenticated"


class InvalidClient(Unauthenticated):
    """Client credentials that name no live client or carry the wrong secret."""

    code = "invalid_client"


class Forbidden(OrderflowError):
    """A valid token whose role may not do this: 403."""

    code = "forbidden"


class TooManyRequests(OrderflowError):
    """The caller's rate or quota is spent for now: 429."""

    code = "too_many_requests"

    def __init__(self, message: str, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class UnpaidLimit(OrderflowError):
    """The customer already holds as many unpaid units as one customer may: 409."""

    code = "unpaid_limit"


class CustomerNotFound(OrderflowError):
    code = "customer_not_found"


class ExportNotFound(OrderflowError):
    code = "export_not_found"


class ReturnNotFound(OrderflowError):
    code = "return_not_found"


class ReconciliationRunNotFound(OrderflowError):
    code = "reconciliation_run_not_found"


class CompensationNotFound(OrderflowError):
    code = "compensation_not_found"


class SecondPersonRequired(Forbidden):
    """An export is released by someone other than the person who asked for it: 403."""

    code = "second_person_required"
