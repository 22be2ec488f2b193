"""Pick and pack by scanning: each unit checked against the package. The first scan stamps
the pick's start, the last one the packing."""

from __future__ import annotations

from typing import Literal

from temporalio import workflow

from domain import steps
from domain.errors import ScanRefused
from domain.failures import as_failure
from domain.shipping import ScanProgress, WarehouseScan, WarehouseStamp
from workflows.shipment.state import ShipmentState


def refuse_wrong_scan(state: ShipmentState, scan: WarehouseScan) -> None:
    package = f"package {state.shipment.package} of order {state.shipment.order_id}"
    if state.handed_over:
        raise _refused(f"{package} is already with the carrier")
    wanted = state.expected.get(scan.sku)
    if wanted is None:
        holds = ", ".join(f"{q} × {sku}" for sku, q in sorted(state.expected.items()))
        raise _refused(f"{scan.sku} does not belong in {package}; it holds {holds}")
    done = state.scanned.get(scan.sku, 0)
    if done + scan.quantity > wanted:
        raise _refused(
            f"{package} takes {wanted} × {scan.sku}; {done} already scanned, "
            f"{scan.quantity} more is too many"
        )


async def record_scan(state: ShipmentState, scan: WarehouseScan) -> ScanProgress:
    """Count a scan the validator let through."""
    refuse_wrong_scan(state, scan)  # again: two scans may have passed the validator together
    first = not state.scanned
    state.scanned[scan.sku] = state.scanned.get(scan.sku, 0) + scan.quantity
    packed = state.scanned == state.expected
    if first:
        state.pick_started_at = workflow.now()
        await _stamp(state, "pick_started")
    if packed:
        state.packed_at = workflow.now()
        await _stamp(state, "packed")
    return ScanProgress(
        shipment_id=state.id, expected=state.expected, scanned=state.scanned, packed=packed
    )


async def _stamp(state: ShipmentState, moment: Literal["pick_started", "packed"]) -> None:
    await state.step(
        steps.STAMP_WAREHOUSE,
        WarehouseStamp(shipment_id=state.id, step=moment, at=workflow.now()),
    )


def _refused(message: str) -> Exception:
    return as_failure(ScanRefused(message))
