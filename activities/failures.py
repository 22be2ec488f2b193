"""Business errors as the workflow receives them."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from domain.errors import OrderflowError


def business_failure(error: OrderflowError) -> ApplicationError:
    """Retrying cannot change the answer (no stock is no stock): the workflow gets the error
    by its type name, non-retryable, and decides."""
    return ApplicationError(error.message, type=type(error).__name__, non_retryable=True)
