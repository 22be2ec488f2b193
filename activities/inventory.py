"""Stock: reserve, release and ship against the ledger."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.errors import OutOfStock
from domain.messages import ReservationResult, StockRequest
from store.db import SessionFactory, transaction
from store.repositories import StockRepository


class InventoryActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn
    def reserve_stock(self, request: StockRequest) -> ReservationResult:
        try:
            with transaction(self.sessions) as session:
                allocations = StockRepository(session).reserve(request.order_id, request.lines)
        except OutOfStock as error:
            # Retrying cannot create stock; the workflow decides what to do.
            raise ApplicationError(
                error.message, type=OutOfStock.__name__, non_retryable=True
            ) from error
        activity.logger.info("reserved stock for %s: %s", request.order_id, allocations)
        return ReservationResult(allocations=allocations)

    @activity.defn
    def release_stock(self, request: StockRequest) -> int:
        with transaction(self.sessions) as session:
            return StockRepository(session).release(request.order_id)

    @activity.defn
    def ship_stock(self, request: StockRequest) -> int:
        with transaction(self.sessions) as session:
            return StockRepository(session).ship(request.order_id)
