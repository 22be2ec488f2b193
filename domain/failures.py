"""Business errors across Temporal, both ways, in one place.

An activity that raises an ``OrderflowError`` fails at once and for good (no stock is no
stock; an unknown carrier stays unknown): its failure names the error's class. Whoever
receives the failure — a workflow from its activity, the API from a refused update — gets
the same business error back by that name, and maps it once more (to HTTP, in the API).
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from domain import errors
from domain.errors import OrderflowError


def _every_error(kind: type[OrderflowError]) -> dict[str, type[OrderflowError]]:
    found = {kind.__name__: kind}
    for sub in kind.__subclasses__():
        found |= _every_error(sub)
    return found


# Every business error by the name its failure carries.
BY_NAME: dict[str, type[OrderflowError]] = _every_error(errors.OrderflowError)


def as_failure(error: OrderflowError) -> ApplicationError:
    """The error as a non-retryable Temporal failure named after its class."""
    return ApplicationError(error.message, type=type(error).__name__, non_retryable=True)


def business_error(failure: BaseException | None) -> OrderflowError | None:
    """The business error a failure carries, looking through the wrappers Temporal adds
    (activity, child workflow, update); None when it carries none."""
    while failure is not None:
        if isinstance(failure, ApplicationError) and failure.type in BY_NAME:
            return BY_NAME[failure.type](failure.message)
        failure = failure.__cause__  # what Temporal's wrappers call their cause
    return None
