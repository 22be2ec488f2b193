"""The warehouse floor: scans at the packing bench, checked against the package, and goods
received."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from starlette.concurrency import run_in_threadpool

from api.deps import RulesDep, SessionsDep, WorkflowsDep
from api.schemas import ReceiptIn, ReceiptPublic
from domain.contract import ParcelTracker
from domain.messages import StockArrived
from domain.shipping import ScanProgress, WarehouseScan
from store.db import SessionFactory, transaction
from store.receipts import receive_goods
from store.repositories import OrderRepository, ShipmentRepository

# A receipt tells at most this many waiting orders; the rest look at their next hour.
TELL_AT_MOST = 200

router = APIRouter(prefix="/warehouse", tags=["warehouse"])


@router.post("/scans", response_model=ScanProgress)
async def scan(
    body: WarehouseScan, *, sessions: SessionsDep, workflows: WorkflowsDep
) -> ScanProgress:
    """One scan: `quantity` units of `sku` into package `package` of `order_id`.

    A SKU that does not belong in the package, or one unit too many, is refused (`409
    scan_refused`, the message says what the package holds) and counts for nothing. The first
    scan stamps the pick's start, the last one the packing (`GET /orders/{id}`, package
    `stages`)."""
    tracked_by = await run_in_threadpool(_tracker_of, sessions, body.order_id, body.package)
    return await workflows.scan(body, tracked_by)


@router.post("/receipts", response_model=ReceiptPublic, status_code=status.HTTP_201_CREATED)
async def receive(
    body: ReceiptIn,
    response: Response,
    *,
    sessions: SessionsDep,
    rules: RulesDep,
    workflows: WorkflowsDep,
) -> ReceiptPublic:
    """Goods arrived: `quantity` of `sku` into `warehouse`, booked once per delivery note
    (`reference`). Sending the same note again answers `200` and changes nothing; the same
    note with other goods is `409`. An unknown SKU or warehouse is `422`. A low-stock alert the
    goods end is closed, and the paid orders waiting on backorder for the SKU (up to 200,
    oldest first) look for their stock at once."""

    def book() -> ReceiptPublic:
        with transaction(sessions) as session:
            received = receive_goods(
                session,
                reference=body.reference,
                sku=body.sku,
                warehouse=body.warehouse,
                quantity=body.quantity,
                low_stock_threshold=rules.low_stock_threshold,
            )
        return ReceiptPublic(
            **body.model_dump(),
            on_hand=received.on_hand,
            available=received.available,
            replayed=received.replayed,
        )

    booked = await run_in_threadpool(book)
    if booked.replayed:
        response.status_code = status.HTTP_200_OK
    # Orders on backorder for these goods look again now, oldest first, not at their next hour.
    # A retried note tells them again: harmless, and the first try may have stopped short.
    arrival = StockArrived(sku=body.sku, warehouse=body.warehouse)
    waiting = await run_in_threadpool(_waiting_for, sessions, body.sku)
    told = [order_id for order_id in waiting if await workflows.stock_arrived(order_id, arrival)]
    return booked.model_copy(update={"orders_told": len(told)})


def _tracker_of(sessions: SessionFactory, order_id: str, package: int) -> ParcelTracker:
    with transaction(sessions) as session:
        return ShipmentRepository(session).tracker(order_id, package)


def _waiting_for(sessions: SessionFactory, sku: str) -> list[str]:
    with transaction(sessions) as session:
        return OrderRepository(session).paid_waiting_for(sku, limit=TELL_AT_MOST)
