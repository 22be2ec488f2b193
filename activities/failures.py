"""Business errors leave every activity the same way: as non-retryable failures.

An activity raises the domain error it means (``OutOfStock``, ``UnknownCarrier``); this
interceptor, installed on the worker, turns it into the failure ``domain.failures`` names, so
no activity maps errors itself and none retries an answer that cannot change.
"""

from __future__ import annotations

from typing import Any

from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from domain.errors import OrderflowError
from domain.failures import as_failure


class BusinessFailures(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except OrderflowError as error:
            raise as_failure(error) from error
