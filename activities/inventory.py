"""Stock: what is free where, reserve per package, release and ship against the ledger."""

from __future__ import annotations

from temporalio import activity

from domain.errors import StockMoved
from domain.messages import (
    OrderPackages,
    PackageReservation,
    PlannedReservation,
    PlanRequest,
    ReservationResult,
    StockQuery,
    StockRequest,
    StockSnapshot,
)
from domain.splitting import PLAN_ATTEMPTS, RACED_OUT, GeoPoint, SplitPlan, plan_or_problem
from store.db import SessionFactory, transaction
from store.repositories import OrderRepository, StockRepository
from store.stock_alerts import review_low_stock


class InventoryActivities:
    def __init__(self, sessions: SessionFactory, *, low_stock_threshold: int = 5) -> None:
        self.sessions = sessions
        self.low_stock_threshold = low_stock_threshold

    @activity.defn
    def stock_snapshot(self, query: StockQuery) -> StockSnapshot:
        with transaction(self.sessions) as session:
            address = OrderRepository(session).shipping_address(query.order_id)
            return StockSnapshot(
                destination=_rounded_destination(address or {}),
                warehouses=StockRepository(session).snapshot(query.skus, query.order_id),
            )

    @activity.defn
    def reserve_packages(self, request: PackageReservation) -> ReservationResult:
        """All packages or none; the same round again returns what it reserved."""
        try:
            with transaction(self.sessions) as session:
                allocations = StockRepository(session).reserve_packages(
                    request.order_id, request.round, request.packages
                )
                review_low_stock(
                    session, [(a.sku, a.warehouse) for a in allocations], self.low_stock_threshold
                )
        except StockMoved:
            # On PostgreSQL a retry can queue behind a slow attempt of this same round for the
            # rows that attempt locked, and find the units gone once it commits: gone to this
            # round. Then the plan is reserved, and planning again would keep a plan the
            # database does not hold. Asked in a new transaction, which sees that commit.
            with transaction(self.sessions) as session:
                allocations = StockRepository(session).reserved_in_round(
                    request.order_id, request.round
                )
            if not allocations:
                raise  # the plan is stale: the workflow plans again
        activity.logger.info("reserved stock for %s: %s", request.order_id, allocations)
        return ReservationResult(allocations=allocations)

    @activity.defn
    def plan_and_reserve(self, request: PlanRequest) -> PlannedReservation:
        """Plan the packages from live stock and reserve them, all or nothing; run again for
        the same round, it returns the plan that round reserved. Stock another order takes
        between the snapshot and the reservation only means planning again."""
        for _ in range(PLAN_ATTEMPTS):
            plan = self._plan(request)
            if isinstance(plan, str):
                # Run again after its commit, the round holds the plan it reserved, which the
                # stock left now need not allow.
                return self._plan_of_round(request) or PlannedReservation(problem=plan)
            try:
                with transaction(self.sessions) as session:
                    # The round's plan: this one, or an earlier run's, untouched.
                    plan = StockRepository(session).reserve_plan(
                        request.order_id, request.round, plan
                    )
                    places = [(line.sku, p.warehouse) for p in plan.packages for line in p.lines]
                    review_low_stock(session, places, self.low_stock_threshold)
            except StockMoved:
                continue
            activity.logger.info("reserved stock for %s: %s", request.order_id, plan.summary())
            return PlannedReservation(plan=plan)
        return self._plan_of_round(request) or PlannedReservation(problem=RACED_OUT)

    def _plan(self, request: PlanRequest) -> SplitPlan | str:
        skus = sorted({line.sku for line in request.lines})
        with transaction(self.sessions) as session:
            address = OrderRepository(session).shipping_address(request.order_id)
            warehouses = StockRepository(session).snapshot(skus, request.order_id)
        destination = _rounded_destination(address or {})
        return plan_or_problem(request.lines, destination, warehouses, request.splitting)

    def _plan_of_round(self, request: PlanRequest) -> PlannedReservation | None:
        with transaction(self.sessions) as session:
            plan = StockRepository(session).plan_of_round(request.order_id, request.round)
        return None if plan is None else PlannedReservation(plan=plan)

    @activity.defn
    def release_stock(self, request: StockRequest) -> int:
        """Everything the order holds, or only the reservation round the request names (a
        lapsed pre-reservation: run again after the order reserved anew, it must not give
        the new round back)."""
        with transaction(self.sessions) as session:
            stock = StockRepository(session)
            places = [(m.sku, m.warehouse) for m in stock.held_by(request.order_id)]
            if request.round is None:
                released = stock.release(request.order_id)
            else:
                released = stock.release_round(request.order_id, request.round)
            review_low_stock(session, places, self.low_stock_threshold)
            return released

    @activity.defn
    def release_packages(self, request: OrderPackages) -> int:
        """The stock of packages that won't leave after all; the order's others keep theirs."""
        with transaction(self.sessions) as session:
            stock = StockRepository(session)
            held = stock.held_by(request.order_id)
            places = [(m.sku, m.warehouse) for m in held if m.package in request.packages]
            released = stock.release_packages(request.order_id, request.packages)
            review_low_stock(session, places, self.low_stock_threshold)
            return released

    @activity.defn
    def restock_returned(self, request: OrderPackages) -> None:
        """The returned parcels' units are sellable again (and may close low-stock alerts)."""
        with transaction(self.sessions) as session:
            stock = StockRepository(session)
            places = [
                place
                for package in request.packages
                for place in stock.restock_package(request.order_id, package)
            ]
            review_low_stock(session, places, self.low_stock_threshold)


def _rounded_destination(address: dict[str, object]) -> GeoPoint | None:
    lat, lon = address.get("lat"), address.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    return GeoPoint(lat=round(lat, 1), lon=round(lon, 1))
