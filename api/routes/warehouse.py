"""The warehouse floor: scans at the packing bench, checked against the package."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import WorkflowsDep
from domain.shipping import ScanProgress, WarehouseScan

router = APIRouter(prefix="/warehouse", tags=["warehouse"])


@router.post("/scans", response_model=ScanProgress)
async def scan(body: WarehouseScan, *, workflows: WorkflowsDep) -> ScanProgress:
    """One scan: `quantity` units of `sku` into package `package` of `order_id`.

    A SKU that does not belong in the package, or one unit too many, is refused (`409
    scan_refused`, the message says what the package holds) and counts for nothing. The first
    scan stamps the pick's start, the last one the packing (`GET /orders/{id}`, package
    `stages`)."""
    return await workflows.scan(body)
