"""The benchmark skeleton's activity: a round trip through Temporal that does nothing."""

from __future__ import annotations

from temporalio import activity


@activity.defn
async def noop() -> None:
    return None
