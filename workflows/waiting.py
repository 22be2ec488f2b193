"""Waiting in workflow time, shared by the workflows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow


async def wait_until(condition: Callable[[], bool], until: datetime | None = None) -> bool:
    """Wait for the condition, or until a moment in workflow time; True if it came true."""
    timeout = None if until is None else max(until - workflow.now(), timedelta(0))
    try:
        await workflow.wait_condition(condition, timeout=timeout)
    except TimeoutError:
        return condition()
    return True
