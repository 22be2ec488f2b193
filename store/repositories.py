"""Queries, one class per aggregate. Repositories never commit: the caller owns the transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.orm import Session, selectinload

from domain.contract import (
    AlertKind,
    AlertLevel,
    AlertRole,
    MovementKind,
    ParcelTracker,
    ShipmentStatus,
)
from domain.errors import OutOfStock, StockMoved
from domain.ledger import EntryKind
from domain.messages import Allocation
from domain.order import AWAITING_RECEIPT, OrderStatus
from domain.reconciliation import Movement, digest
from domain.refunds import RefundStatus
from domain.returns import REPLACEMENT_BASE
from domain.shipping import (
    LabelRequest,
    LabelView,
    ParcelOnRecord,
    TrackingStage,
    progress_rank,
)
from domain.sla import Stage, StageStatistics
from domain.splitting import GeoPoint, Package, SplitPlan, WarehouseStock
from store.inserts import core, insert_once, rows_changed, table_of
from store.ledger import FinanceLedger
from store.models import (
    Alert,
    ConfirmationOutcome,
    Customer,
    EventOutcome,
    Notification,
    Order,
    OrderEvent,
    OrderLine,
    Payment,
    PaymentEvent,
    Product,
    Refund,
    ReservationPlan,
    Shipment,
    SlaStatistic,
    StockLevel,
    StockMovement,
    Warehouse,
    utcnow,
)
from store.models import Package as PackageRow


class ConcurrentReservation(RuntimeError):
    """Two attempts reserved for one order at once; the loser rolls back and retries."""


def _round_prefix(order_id: str, round_: int) -> str:
    """A reservation round's references are ``<order>/<round>/<package>``."""
    return f"{order_id}/{round_}/"


# Every order's intake reads its stock snapshot: as Core statements, built once, the read
# took a quarter of the CPU the ORM's took (docs/benchmarks.md, change 11).
_MOVEMENTS_OF = select(
    StockMovement.reference,
    StockMovement.sku,
    StockMovement.warehouse,
    StockMovement.kind,
    StockMovement.quantity,
).where(StockMovement.order_id == bindparam("order_id"))
_FREE_UNITS = select(
    StockLevel.sku, StockLevel.warehouse, StockLevel.on_hand - StockLevel.reserved
).where(StockLevel.sku.in_(bindparam("skus", expanding=True)))
_ADDRESS_OF = select(Order.shipping_address).where(Order.id == bindparam("order_id"))
_WAREHOUSE_PLACES = select(Warehouse.code, Warehouse.lat, Warehouse.lon).order_by(Warehouse.code)
# ... and reserves it.
_RESERVED_IN_ROUND = (
    select(StockMovement.sku, StockMovement.warehouse, StockMovement.quantity)
    .where(
        StockMovement.order_id == bindparam("order_id"),
        StockMovement.kind == MovementKind.RESERVE,
        StockMovement.reference.like(bindparam("pattern"), escape="/"),
    )
    .order_by(StockMovement.id)
)
_TAKE = (
    update(StockLevel)
    .where(
        StockLevel.sku == bindparam("at_sku"),
        StockLevel.warehouse == bindparam("at_warehouse"),
        StockLevel.on_hand - StockLevel.reserved >= bindparam("units"),
    )
    .values(reserved=StockLevel.reserved + bindparam("units"))
)
_LEVELS_AT = (
    select(
        StockLevel.sku,
        StockLevel.warehouse,
        StockLevel.on_hand,
        StockLevel.reserved,
        StockLevel.low_stock_threshold,
    )
    .where(tuple_(StockLevel.sku, StockLevel.warehouse).in_(bindparam("places", expanding=True)))
    .order_by(StockLevel.sku, StockLevel.warehouse)
)


# Every order's intake, in the API: the request's earlier order looked up, the customer's
# unpaid units counted under a lock on their row, the free units summed, the order written.
# Built once; the ORM's unit of work alone was a tenth of the API's CPU for an order
# (docs/benchmarks.md, change 12).
_ORDER_OF_REQUEST = (
    select(Order.id)
    .where(or_(Order.id == bindparam("order_id"), Order.idempotency_key == bindparam("key")))
    .limit(2)
)
_LOCK_CUSTOMER = (
    select(Customer.id).where(Customer.id == bindparam("customer_id")).with_for_update()
)
_UNPAID_UNITS = (
    select(func.coalesce(func.sum(OrderLine.quantity), 0))
    .join(Order, Order.id == OrderLine.order_id)
    .where(
        Order.customer_id == bindparam("customer_id"),
        Order.status == OrderStatus.PENDING_PAYMENT.value,
    )
)
_FREE_ANYWHERE = (
    select(StockLevel.sku, func.sum(StockLevel.on_hand - StockLevel.reserved))
    .where(StockLevel.sku.in_(bindparam("skus", expanding=True)))
    .group_by(StockLevel.sku)
)
_INSERT_ORDER = table_of(Order).insert()
_INSERT_LINES = table_of(OrderLine).insert()
_INSERT_EVENTS = table_of(OrderEvent).insert()
_ORDER_COLUMNS = tuple(column.key for column in table_of(Order).columns)
_PLAN_OF_ROUND = select(ReservationPlan.packages).where(
    ReservationPlan.order_id == bindparam("order_id"), ReservationPlan.round == bindparam("round")
)


def _packages_json(plan: SplitPlan) -> list[dict[str, Any]]:
    return [package.model_dump(mode="json") for package in plan.packages]


def _prefix_pattern(prefix: str) -> str:
    """A LIKE pattern (escape ``/``) for the values starting with ``prefix``, taken literally."""
    escaped = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"{escaped}%"


@dataclass(frozen=True)
class PlaceLevel:
    """A stock level as the low-stock review reads it."""

    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    low_stock_threshold: int | None


class _Movement(Protocol):
    """A ledger row as a model or as a row of ``_MOVEMENTS_OF``."""

    @property
    def reference(self) -> str: ...
    @property
    def sku(self) -> str: ...
    @property
    def warehouse(self) -> str: ...
    @property
    def kind(self) -> str: ...


AnyMovement = TypeVar("AnyMovement", bound=_Movement)


def _held(movements: Sequence[AnyMovement]) -> list[AnyMovement]:
    """The reservations among ``movements`` not yet released or shipped."""
    settled = {
        (m.reference, m.sku, m.warehouse) for m in movements if m.kind != MovementKind.RESERVE
    }
    return [
        m
        for m in movements
        if m.kind == MovementKind.RESERVE and (m.reference, m.sku, m.warehouse) not in settled
    ]


# Read for every order's intake: the columns it prices and plans with, not the ORM's rows.
_PRODUCT_TERMS = select(
    Product.sku,
    Product.price,
    Product.currency,
    Product.weight_grams,
    Product.cold_chain,
    Product.fragile,
    Product.presale_ships_at,
).where(Product.sku.in_(bindparam("skus", expanding=True)))


@dataclass(frozen=True)
class ProductTerms:
    sku: str
    price: int
    currency: str
    weight_grams: int
    cold_chain: bool
    fragile: bool
    presale_ships_at: datetime | None


class CatalogRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def products(self, skus: Sequence[str]) -> dict[str, ProductTerms]:
        """What an order, an exchange or a delivery needs of each SKU, by SKU; an unknown SKU
        is absent."""
        rows = core(self.session).execute(_PRODUCT_TERMS, {"skus": list(set(skus))})
        return {row.sku: ProductTerms(*row) for row in rows}

    def catalog(self) -> list[tuple[Product, list[StockLevel]]]:
        products = self.session.scalars(select(Product).order_by(Product.sku)).all()
        levels = self.session.scalars(select(StockLevel).order_by(StockLevel.warehouse)).all()
        by_sku: dict[str, list[StockLevel]] = {}
        for level in levels:
            by_sku.setdefault(level.sku, []).append(level)
        return [(p, by_sku.get(p.sku, [])) for p in products]

    def upsert_product(self, product: Product) -> None:
        self.session.merge(product)

    def warehouse(self, code: str) -> Warehouse | None:
        return self.session.get(Warehouse, code)

    def upsert_warehouse(self, warehouse: Warehouse) -> None:
        self.session.merge(warehouse)


@dataclass(frozen=True)
class OrderFilters:
    status: str | None = None
    channel: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class OrderPosition:
    """Keyset position in the newest-first listing: the last order of a page."""

    created_at: datetime
    order_id: str


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, order_id: str) -> Order | None:
        return self.session.get(
            Order, order_id, options=[selectinload(Order.lines), selectinload(Order.timeline)]
        )

    def shipping_address(self, order_id: str) -> dict[str, Any] | None:
        """Where the order goes, without loading the order."""
        address = core(self.session).execute(_ADDRESS_OF, {"order_id": order_id}).scalar()
        return cast(dict[str, Any] | None, address)

    def exists(self, order_id: str) -> bool:
        return self.session.scalar(select(Order.id).where(Order.id == order_id)) is not None

    def of_request(self, order_id: str, key: str | None) -> Order | None:
        """The order a request placed before: the one with its ID, else its idempotency
        key's. One indexed read when there is none, as for every new order."""
        found = list(
            core(self.session)
            .execute(_ORDER_OF_REQUEST, {"order_id": order_id, "key": key})
            .scalars()
        )
        if not found:
            return None
        return self.get(order_id if order_id in found else found[0])

    def add_customer_once(self, customer_id: str, *, email: str, name: str) -> None:
        """Create the customer on their first order. An order never changes an existing
        customer's contact details: anyone may place an order naming any customer ID, only the
        customer's own token may change them (``CustomerRepository.change_contact``)."""
        insert_once(self.session, Customer, {"id": customer_id, "email": email, "name": name})

    def paid_waiting_for(self, sku: str, limit: int) -> list[str]:
        """Paid orders not yet allocated that want ``sku``, oldest first: those a backorder
        holds (and the few on their way to allocation, which a nudge does not disturb)."""
        query = (
            select(Order.id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(OrderLine.sku == sku, Order.status == OrderStatus.PAID.value)
            .order_by(Order.created_at, Order.id)
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def paid_with_sku(
        self, sku: str, paid_from: datetime, paid_until: datetime, *, after: str | None, limit: int
    ) -> list[str]:
        """Orders holding ``sku`` that were paid in ``[paid_from, paid_until)``, by ID, after
        ``after``: a batch compensation's pages."""
        paid = select(OrderEvent.order_id).where(
            OrderEvent.status == OrderStatus.PAID.value,
            OrderEvent.at >= paid_from,
            OrderEvent.at < paid_until,
        )
        query = (
            select(Order.id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(OrderLine.sku == sku, Order.id.in_(paid))
            .order_by(Order.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(Order.id > after)
        return list(self.session.scalars(query.distinct()))

    def unpaid_units(self, customer_id: str, *, lock: bool = False) -> int:
        """Units in the customer's orders still waiting for payment. ``lock``: hold the
        customer's row until the transaction ends, so their concurrent orders count in turn."""
        connection = core(self.session)
        if lock:
            connection.execute(_LOCK_CUSTOMER, {"customer_id": customer_id})
        held = connection.execute(_UNPAID_UNITS, {"customer_id": customer_id}).scalar()
        return int(held or 0)

    def add(self, order: Order) -> None:
        self.session.add(order)

    def insert_new(self, order: Order) -> None:
        """Write a new order, its lines and its timeline's first entries as Core INSERTs.
        ``order`` stays out of the session: it is what the caller built, and answers with.
        Raises ``IntegrityError`` when the order exists, as the ORM's flush would."""
        if not order.lines or not order.timeline:
            raise ValueError(f"order {order.id} needs its lines and its first timeline entry")
        # A column left unset takes its default (the timestamps), as in the flush.
        values = {
            key: value for key in _ORDER_COLUMNS if (value := getattr(order, key)) is not None
        }
        connection = core(self.session)
        connection.execute(_INSERT_ORDER, values)
        connection.execute(
            _INSERT_LINES,
            [
                {
                    "order_id": order.id,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "line_total": line.line_total,
                }
                for line in order.lines
            ],
        )
        connection.execute(
            _INSERT_EVENTS,
            [
                {"order_id": order.id, "seq": e.seq, "status": e.status, "at": e.at, "note": e.note}
                for e in order.timeline
            ],
        )

    def add_packages(self, order_id: str, packages: Sequence[Package]) -> None:
        for package in packages:
            insert_once(
                self.session,
                PackageRow,
                {
                    **package.model_dump(exclude={"number", "lines"}),
                    "order_id": order_id,
                    "number": package.number,
                    "lines": [line.model_dump() for line in package.lines],
                    "created_at": utcnow(),
                },
            )

    def packages(self, order_id: str) -> list[PackageRow]:
        return list(
            self.session.scalars(
                select(PackageRow)
                .where(PackageRow.order_id == order_id)
                .order_by(PackageRow.number)
            )
        )

    def page(
        self, filters: OrderFilters, *, after: OrderPosition | None, limit: int
    ) -> tuple[list[Order], OrderPosition | None]:
        query = select(Order).options(selectinload(Order.lines))
        if filters.status:
            query = query.where(Order.status == filters.status)
        if filters.channel:
            query = query.where(Order.channel == filters.channel)
        if filters.customer_id:
            query = query.where(Order.customer_id == filters.customer_id)
        if after:
            query = query.where(
                or_(
                    Order.created_at < after.created_at,
                    and_(Order.created_at == after.created_at, Order.id < after.order_id),
                )
            )
        query = query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
        rows = list(self.session.scalars(query))
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], OrderPosition(last.created_at, last.id)

    def note_once(self, order_id: str, note: str) -> None:
        """A line on the timeline of an order whose workflow has closed (which no longer
        numbers its own), at its current status; once, however often it is asked."""
        order = self.session.get(Order, order_id, with_for_update=True)
        if order is None:
            return
        events = select(OrderEvent).where(OrderEvent.order_id == order_id)
        if self.session.scalar(events.where(OrderEvent.note == note).limit(1)) is not None:
            return
        last = self.session.scalar(
            select(func.max(OrderEvent.seq)).where(OrderEvent.order_id == order_id)
        )
        self.session.add(
            OrderEvent(
                order_id=order_id, seq=(last or 0) + 1, status=order.status, at=utcnow(), note=note
            )
        )

    def record_transition(
        self, order_id: str, *, seq: int, status: str, at: datetime, note: str | None
    ) -> None:
        """Stamp a state change once; a retried activity finds its row and changes nothing."""
        if not insert_once(
            self.session,
            OrderEvent,
            {"order_id": order_id, "seq": seq, "status": status, "at": at, "note": note},
        ):
            return
        # The newest transition wins even if an older retry lands late. One Core statement,
        # which leaves an Order the session holds as loaded: no step reads one after this.
        newer = select(OrderEvent.id).where(OrderEvent.order_id == order_id, OrderEvent.seq > seq)
        core(self.session).execute(
            update(Order)
            .where(Order.id == order_id, ~newer.exists())
            .values(status=status, updated_at=at)
        )


class StockRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def receive(self, reference: str, sku: str, warehouse: str, quantity: int) -> bool:
        """Goods arrive: on hand grows, recorded in the ledger under ``reference``. False:
        this reference was received already and nothing changed."""
        if not insert_once(
            self.session,
            StockMovement,
            {
                "reference": reference,
                "sku": sku,
                "warehouse": warehouse,
                "kind": MovementKind.RECEIPT,
                "quantity": quantity,
            },
        ):
            return False
        level = self.session.get(StockLevel, (sku, warehouse))
        if level is None:
            self.session.add(StockLevel(sku=sku, warehouse=warehouse, on_hand=quantity, reserved=0))
        else:
            level.on_hand += quantity
        return True

    def movements(self, reference: str, kind: MovementKind) -> list[StockMovement]:
        query = select(StockMovement).where(
            StockMovement.reference == reference, StockMovement.kind == kind
        )
        return list(self.session.scalars(query.order_by(StockMovement.id)))

    def ship_package(self, order_id: str, package: int) -> int:
        """One package's reserved units leave the warehouse; 0 when already shipped.

        Raises ``OutOfStock`` when the package holds no reservation (released meanwhile):
        no parcel may leave without its stock.
        """
        held = [m for m in self.held_by(order_id) if m.package == package]
        if not held:
            if any(
                m.kind == MovementKind.SHIP and m.package == package
                for m in self.movements_of(order_id)
            ):
                return 0
            raise OutOfStock(f"package {package} of {order_id} holds no stock to ship")
        return self._settle_movements(held, order_id, MovementKind.SHIP, leaves_warehouse=True)

    def restock_package(self, order_id: str, package: int) -> list[tuple[str, str]]:
        """A parcel came back to the sender: its units go back on the shelf, once. Returns
        the (sku, warehouse) places restocked by this call."""
        restocked = []
        for shipped in self.movements_of(order_id):
            if shipped.kind != MovementKind.SHIP or shipped.package != package:
                continue
            if not self._move(
                shipped.reference, order_id, shipped.sku, shipped.warehouse, MovementKind.RESTOCK,
                shipped.quantity, package=package,
            ):  # fmt: skip
                continue  # an earlier attempt put it back
            self.session.execute(
                update(StockLevel)
                .where(StockLevel.sku == shipped.sku, StockLevel.warehouse == shipped.warehouse)
                .values(on_hand=StockLevel.on_hand + shipped.quantity)
            )
            restocked.append((shipped.sku, shipped.warehouse))
        return restocked

    def release_packages(self, order_id: str, packages: Sequence[int]) -> int:
        """Give back what these packages of the order still hold, and nothing else."""
        held = [m for m in self.held_by(order_id) if m.package in packages]
        return self._settle_movements(held, order_id, MovementKind.RELEASE, leaves_warehouse=False)

    def release(self, order_id: str) -> int:
        """Give back whatever this order's own packages still hold (an exchange's replacement
        is its return's to release); returns the units released."""
        held = [
            m for m in self.held_by(order_id) if m.package is None or m.package < REPLACEMENT_BASE
        ]
        return self._settle_movements(held, order_id, MovementKind.RELEASE, leaves_warehouse=False)

    def release_round(self, order_id: str, round_: int) -> int:
        """Give back what reservation round ``round_`` still holds, and nothing of a later
        round. Returns every unit of that round given back, by this call or an earlier one:
        the same answer however often it runs."""
        prefix = _round_prefix(order_id, round_)
        held = [m for m in self.held_by(order_id) if m.reference.startswith(prefix)]
        self._settle_movements(held, order_id, MovementKind.RELEASE, leaves_warehouse=False)
        return sum(
            m.quantity
            for m in self.movements_of(order_id)
            if m.kind == MovementKind.RELEASE and m.reference.startswith(prefix)
        )

    def _settle_movements(
        self, reservations: Sequence[StockMovement], order_id: str, kind: MovementKind, *,
        leaves_warehouse: bool,
    ) -> int:  # fmt: skip
        settled = 0
        for held in reservations:
            moved = self._move(
                held.reference, order_id, held.sku, held.warehouse, kind, held.quantity,
                package=held.package,
            )  # fmt: skip
            if not moved:
                continue  # an earlier attempt settled this one
            changes = {"reserved": StockLevel.reserved - held.quantity}
            if leaves_warehouse:
                changes["on_hand"] = StockLevel.on_hand - held.quantity
            self.session.execute(
                update(StockLevel)
                .where(StockLevel.sku == held.sku, StockLevel.warehouse == held.warehouse)
                .values(**changes)
            )
            settled += held.quantity
        return settled

    def movements_of(self, order_id: str) -> list[StockMovement]:
        query = select(StockMovement).where(StockMovement.order_id == order_id)
        return list(self.session.scalars(query.order_by(StockMovement.id)))

    def held_by(self, order_id: str) -> list[StockMovement]:
        """The reservations of this order not yet released or shipped."""
        return _held(self.movements_of(order_id))

    def package_keeps_its_stock(self, order_id: str, package: int) -> bool:
        """True while the package's units are reserved for it, and once they left with it:
        a hand-over moves the stock with the parcel, it does not take it away."""
        movements = [m for m in self.movements_of(order_id) if m.package == package]
        return bool(_held(movements)) or any(m.kind == MovementKind.SHIP for m in movements)

    def _move(
        self,
        reference: str,
        order_id: str,
        sku: str,
        warehouse: str,
        kind: MovementKind,
        quantity: int,
        *,
        package: int | None = None,
    ) -> bool:
        return insert_once(
            self.session,
            StockMovement,
            {
                "reference": reference,
                "order_id": order_id,
                "package": package,
                "sku": sku,
                "warehouse": warehouse,
                "kind": kind,
                "quantity": quantity,
                "created_at": utcnow(),
            },
        )

    def snapshot(self, skus: Sequence[str], order_id: str | None = None) -> list[WarehouseStock]:
        """Every warehouse with the units of these SKUs free to reserve for ``order_id``.

        The units the order holds already count as its own: a snapshot taken again after the
        order's reservation (a replay of the task that planned and reserved) sees what the
        first one saw, so the planner plans the packages that reservation holds.
        """
        connection = core(self.session)
        own: Counter[tuple[str, str]] = Counter()
        if order_id:
            for held in _held(connection.execute(_MOVEMENTS_OF, {"order_id": order_id}).all()):
                own[(held.sku, held.warehouse)] += held.quantity
        available: dict[str, dict[str, int]] = {}
        for sku, warehouse, free in connection.execute(_FREE_UNITS, {"skus": list(skus)}):
            free += own[(sku, warehouse)]
            if free > 0:
                available.setdefault(warehouse, {})[sku] = free
        return [
            WarehouseStock(
                code=code, location=GeoPoint(lat=lat, lon=lon), available=available.get(code, {})
            )
            for code, lat, lon in connection.execute(_WAREHOUSE_PLACES)
        ]

    def reserve_packages(
        self, order_id: str, round_: int, packages: Sequence[Package]
    ) -> list[Allocation]:
        """Reserve every package or nothing (the caller's transaction rolls back on
        ``StockMoved``). Called again for the same round, it returns what that call reserved."""
        if existing := self.reserved_in_round(order_id, round_):
            return existing
        return self._take_packages(order_id, round_, packages)

    def reserve_plan(self, order_id: str, round_: int, plan: SplitPlan) -> SplitPlan:
        """Reserve every package of the plan or nothing, and keep the plan with the
        reservation (the caller's transaction rolls back on ``StockMoved``). Returns the plan
        the round holds: this one, or an earlier call's for the same round, untouched.

        The plan's row is written first: a second call for the round waits there for the
        first to commit (PostgreSQL) or to release the database (SQLite), then takes nothing.
        """
        values = {"order_id": order_id, "round": round_, "packages": _packages_json(plan)}
        if not insert_once(self.session, ReservationPlan, values):
            earlier = self.plan_of_round(order_id, round_)
            assert earlier is not None, "the round's plan was there a statement ago"
            return earlier
        self._take_packages(order_id, round_, plan.packages)
        return plan

    def plan_of_round(self, order_id: str, round_: int) -> SplitPlan | None:
        """The plan reservation round ``round_`` of the order holds (``reserve_plan``)."""
        packages = core(self.session).scalar(
            _PLAN_OF_ROUND, {"order_id": order_id, "round": round_}
        )
        return None if packages is None else SplitPlan(packages=packages)

    def _take_packages(
        self, order_id: str, round_: int, packages: Sequence[Package]
    ) -> list[Allocation]:
        prefix = _round_prefix(order_id, round_)
        allocations: list[Allocation] = []
        for package in packages:
            for line in package.lines:
                if not self._take(line.sku, package.warehouse, line.quantity):
                    raise StockMoved(
                        f"{package.warehouse} no longer has {line.quantity} of {line.sku}"
                    )
                reference = f"{prefix}{package.number}"
                if not self._move(
                    reference,
                    order_id,
                    line.sku,
                    package.warehouse,
                    MovementKind.RESERVE,
                    line.quantity,
                    package=package.number,
                ):
                    raise ConcurrentReservation(f"order {order_id} is being reserved twice")
                allocations.append(
                    Allocation(sku=line.sku, warehouse=package.warehouse, quantity=line.quantity)
                )
        return allocations

    def reserved_in_round(self, order_id: str, round_: int) -> list[Allocation]:
        """What reservation round ``round_`` of the order took; empty while it took nothing."""
        reserved = core(self.session).execute(
            _RESERVED_IN_ROUND,
            {"order_id": order_id, "pattern": _prefix_pattern(_round_prefix(order_id, round_))},
        )
        return [
            Allocation(sku=sku, warehouse=warehouse, quantity=quantity)
            for sku, warehouse, quantity in reserved
        ]

    def _take(self, sku: str, warehouse: str, quantity: int) -> bool:
        """The atomic conditional update: the database takes the units only if they are free."""
        taken = core(self.session).execute(
            _TAKE, {"at_sku": sku, "at_warehouse": warehouse, "units": quantity}
        )
        return rows_changed(taken) == 1

    def levels(self, places: Sequence[tuple[str, str]]) -> list[PlaceLevel]:
        """The stock levels of these places (SKU, warehouse) that exist, in a stable order."""
        if not places:
            return []
        rows = core(self.session).execute(_LEVELS_AT, {"places": sorted(set(places))})
        return [PlaceLevel(*row) for row in rows]

    def available_anywhere(self, skus: Sequence[str]) -> dict[str, int]:
        """Free units per SKU summed over every warehouse; a SKU stocked nowhere is absent."""
        rows = core(self.session).execute(_FREE_ANYWHERE, {"skus": list(skus)})
        return {sku: int(free) for sku, free in rows}

    def ledger_totals(self) -> dict[tuple[str, str], dict[str, int]]:
        rows = self.session.execute(
            select(
                StockMovement.sku,
                StockMovement.warehouse,
                StockMovement.kind,
                func.sum(StockMovement.quantity),
            ).group_by(StockMovement.sku, StockMovement.warehouse, StockMovement.kind)
        )
        totals: dict[tuple[str, str], dict[str, int]] = {}
        for sku, warehouse, kind, quantity in rows:
            totals.setdefault((sku, warehouse), {})[kind] = int(quantity)
        return totals

    def level(self, sku: str, warehouse: str) -> StockLevel | None:
        return self.session.get(StockLevel, (sku, warehouse))


# The provider's word for a payment whose money it took.
CAPTURED = "succeeded"

# What a provider's word about a payment is booked against; not the row, whose sealed client
# secret every payment check would decrypt for nothing.
_PAYMENT_KEYS = select(Payment.id, Payment.order_id, Payment.trace_id, Payment.currency).where(
    Payment.provider_payment_id == bindparam("provider_payment_id")
)


# The payment an order's caller is shown, and its intake looks for: not the whole row.
_PAYMENT_OF_ORDER = (
    select(
        Payment.provider,
        Payment.provider_payment_id,
        Payment.client_secret,
        Payment.amount,
        Payment.currency,
        Payment.status,
    )
    .where(Payment.order_id == bindparam("order_id"))
    .order_by(Payment.id)
    .limit(1)
)


@dataclass(frozen=True)
class PaymentSummary:
    provider: str
    provider_payment_id: str
    client_secret: str
    amount: int
    currency: str
    status: str


@dataclass(frozen=True)
class PaymentKeys:
    id: int
    order_id: str
    trace_id: str | None
    currency: str


class PaymentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def for_order(self, order_id: str) -> Payment | None:
        return self.session.scalar(
            select(Payment).where(Payment.order_id == order_id).order_by(Payment.id).limit(1)
        )

    def summary_of(self, order_id: str) -> PaymentSummary | None:
        """The order's payment as its caller sees it, client secret and all."""
        row = core(self.session).execute(_PAYMENT_OF_ORDER, {"order_id": order_id}).first()
        return PaymentSummary(*row) if row else None

    def record_intent(
        self,
        *,
        order_id: str,
        provider: str,
        provider_payment_id: str,
        client_secret: str,
        amount: int,
        currency: str,
        status: str,
    ) -> None:
        insert_once(
            self.session,
            Payment,
            {
                "order_id": order_id,
                "provider": provider,
                "provider_payment_id": provider_payment_id,
                "client_secret": client_secret,
                "amount": amount,
                "currency": currency,
                "status": status,
                "created_at": utcnow(),
                "updated_at": utcnow(),
            },
        )

    def record_provider_view(
        self, provider_payment_id: str, *, status: str, amount: int, currency: str
    ) -> None:
        """The payment as the provider has it now: its status, and what it is (or was
        captured) for, which a customer may have changed from what the order asked. A
        capture is booked in the finance ledger in the same transaction, once."""
        payment = self._by_provider_id(provider_payment_id)
        if payment is None:
            return
        captured = status == CAPTURED
        self.session.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(
                status=status,
                amount=amount,
                currency=currency,
                updated_at=utcnow(),
                # What reconciliation counts: a captured charge, and only while it is one.
                fingerprint=digest(payment.trace_id, Movement.CHARGE, amount, currency)
                if captured
                else None,
            )
        )
        if captured:
            FinanceLedger(self.session).book(
                EntryKind.CHARGE,
                order_id=payment.order_id,
                trace_id=payment.trace_id,
                amount=amount,
                currency=currency,
                source=provider_payment_id,
            )

    def _by_provider_id(self, provider_payment_id: str) -> PaymentKeys | None:
        row = (
            core(self.session)
            .execute(_PAYMENT_KEYS, {"provider_payment_id": provider_payment_id})
            .first()
        )
        return PaymentKeys(*row) if row else None

    def record_refund(
        self,
        *,
        order_id: str,
        provider_refund_id: str,
        provider_payment_id: str,
        amount: int,
        reason: str,
        purpose: str,
        currency: str | None = None,
        actor: str | None = None,
        units: dict[str, int] | None = None,
    ) -> None:
        """The provider gave the money back: the refunds ledger's row for this purpose says
        so (written now, or turned from parked), and the finance ledger books it, once."""
        payment = self._by_provider_id(provider_payment_id)
        booked_in = currency or (payment.currency if payment else None)
        trace = payment.trace_id if payment else None
        values = {
            "provider_refund_id": provider_refund_id,
            "amount": amount,
            "status": RefundStatus.REFUNDED.value,
            "problem": None,
            "updated_at": utcnow(),
            "fingerprint": digest(trace, Movement.REFUND, amount, booked_in) if booked_in else None,
        }
        inserted = insert_once(
            self.session,
            Refund,
            {
                **values,
                "order_id": order_id,
                "provider_payment_id": provider_payment_id,
                "currency": currency or (payment.currency if payment else None),
                "reason": reason,
                "purpose": purpose,
                "actor": actor,
                "units": units,
                "trace_id": payment.trace_id if payment else None,
                "created_at": utcnow(),
            },
        )
        if not inserted:
            self.session.execute(
                update(Refund)
                .where(Refund.order_id == order_id, Refund.purpose == purpose)
                .values(**values)
            )
        if booked_in:
            FinanceLedger(self.session).book(
                EntryKind.REFUND,
                order_id=order_id,
                trace_id=payment.trace_id if payment else None,
                amount=amount,
                currency=booked_in,
                source=provider_refund_id,
            )

    def park_refund(
        self,
        *,
        order_id: str,
        provider_payment_id: str,
        amount: int,
        currency: str | None,
        reason: str,
        purpose: str,
        actor: str | None,
        problem: str,
        units: dict[str, int] | None = None,
    ) -> None:
        """A refund the provider refused or never answered, in the ledger as parked. One
        made meanwhile (the provider answered late, a retry went through) stays made."""
        payment = self._by_provider_id(provider_payment_id)
        inserted = insert_once(
            self.session,
            Refund,
            {
                "order_id": order_id,
                "provider_refund_id": None,
                "provider_payment_id": provider_payment_id,
                "amount": amount,
                "currency": currency,
                "reason": reason,
                "purpose": purpose,
                "status": RefundStatus.PARKED.value,
                "actor": actor,
                "problem": problem,
                "units": units,
                "trace_id": payment.trace_id if payment else None,
                "created_at": utcnow(),
                "updated_at": utcnow(),
            },
        )
        if not inserted:
            self.session.execute(
                update(Refund)
                .where(
                    Refund.order_id == order_id,
                    Refund.purpose == purpose,
                    Refund.status == RefundStatus.PARKED.value,
                )
                .values(problem=problem, updated_at=utcnow())
            )

    def refund_by_provider_id(self, provider_refund_id: str) -> Refund | None:
        return self.session.scalar(
            select(Refund).where(Refund.provider_refund_id == provider_refund_id)
        )

    def refunds(self, order_id: str) -> list[Refund]:
        """The order's refunds ledger, oldest first."""
        return list(
            self.session.scalars(
                select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)
            )
        )


class PaymentEventRepository:
    """Provider events at the door: however many copies arrive, one caller delivers each."""

    # A claim nobody settled for this long belongs to a request that died mid-way.
    ABANDONED_AFTER = timedelta(minutes=1)

    def __init__(self, session: Session) -> None:
        self.session = session

    def is_duplicate(
        self, provider: str, provider_event_id: str, *, now: datetime | None = None
    ) -> bool:
        """Read only: is this event delivered, or being delivered, already? The cheap answer
        for the copies of a storm, which then need no write (``record_once`` decides for the
        rest). Call it in its own transaction: on SQLite a transaction that reads and then
        writes can fail outright when another writer committed in between.
        """
        now = now or utcnow()
        row = self.session.execute(
            select(PaymentEvent.outcome, PaymentEvent.updated_at).where(
                PaymentEvent.provider == provider,
                PaymentEvent.provider_event_id == provider_event_id,
            )
        ).first()
        if row is None:
            return False
        outcome, updated_at = row
        if outcome == EventOutcome.FAILED:
            return False
        if outcome == EventOutcome.PENDING:
            return updated_at >= now - self.ABANDONED_AFTER
        return True

    def record_once(
        self,
        *,
        provider: str,
        provider_event_id: str,
        event_type: str,
        provider_payment_id: str,
        order_id: str | None,
        now: datetime | None = None,
    ) -> bool:
        """Claim the event for delivery: True for exactly one caller, who must ``settle`` it.

        A new event is inserted ``pending``. One seen before is a duplicate (False) unless its
        last delivery failed or was abandoned: then one conditional UPDATE takes the claim
        back, so of many concurrent retries only one wins. A delivered event stays delivered.
        """
        now = now or utcnow()
        if insert_once(
            self.session,
            PaymentEvent,
            {
                "provider": provider,
                "provider_event_id": provider_event_id,
                "event_type": event_type,
                "provider_payment_id": provider_payment_id,
                "order_id": order_id,
                "outcome": EventOutcome.PENDING,
                "received_at": now,
                "updated_at": now,
            },
        ):
            return True
        retaken = self.session.execute(
            update(PaymentEvent)
            .where(
                PaymentEvent.provider == provider,
                PaymentEvent.provider_event_id == provider_event_id,
                or_(
                    PaymentEvent.outcome == EventOutcome.FAILED,
                    and_(
                        PaymentEvent.outcome == EventOutcome.PENDING,
                        PaymentEvent.updated_at < now - self.ABANDONED_AFTER,
                    ),
                ),
            )
            .values(outcome=EventOutcome.PENDING, updated_at=now)
        )
        return rows_changed(retaken) == 1

    def settle(self, *, provider: str, provider_event_id: str, outcome: EventOutcome) -> None:
        """How the claimed delivery went. A late failure never undoes a finished delivery."""
        query = update(PaymentEvent).where(
            PaymentEvent.provider == provider, PaymentEvent.provider_event_id == provider_event_id
        )
        if outcome == EventOutcome.FAILED:
            query = query.where(PaymentEvent.outcome == EventOutcome.PENDING)
        self.session.execute(query.values(outcome=outcome, updated_at=utcnow()))


class AlertRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def raise_once(
        self,
        *,
        kind: AlertKind,
        key: str,
        level: AlertLevel,
        subject: str,
        message: str,
        role: AlertRole,
    ) -> bool:
        """Open an alert unless one is open under ``key``; True when this call opened it."""
        return insert_once(
            self.session,
            Alert,
            {
                "kind": kind,
                "open_key": key,
                "level": level,
                "subject": subject,
                "message": message,
                "role": role,
                "created_at": utcnow(),
            },
        )

    def escalate(self, key: str, message: str) -> bool:
        """An open alert nobody took up in time turns red; one resolved stays resolved."""
        raised = core(self.session).execute(
            update(Alert).where(Alert.open_key == key).values(level=AlertLevel.RED, message=message)
        )
        return bool(rows_changed(raised))

    def resolve(self, key: str) -> bool:
        resolved = core(self.session).execute(
            update(Alert).where(Alert.open_key == key).values(open_key=None, resolved_at=utcnow())
        )
        return bool(rows_changed(resolved))

    def get(self, alert_id: int) -> Alert | None:
        return self.session.get(Alert, alert_id)

    def resolve_id(self, alert_id: int) -> Alert | None:
        """A person closes the alert; one already closed stays as it was."""
        alert = self.session.get(Alert, alert_id, with_for_update=True)
        if alert is not None and alert.resolved_at is None:
            alert.open_key, alert.resolved_at = None, utcnow()
        return alert

    def resolve_missing(self, kind: AlertKind, *, still_open: set[str], prefix: str) -> int:
        """Close the open alerts of ``kind`` under ``prefix`` whose condition is gone (their
        key not among ``still_open``); returns how many."""
        open_keys = self.session.scalars(
            select(Alert.open_key).where(
                Alert.kind == kind, Alert.open_key.startswith(prefix, autoescape=True)
            )
        )
        gone = [key for key in open_keys if key is not None and key not in still_open]
        for key in gone:
            self.resolve(key)
        return len(gone)

    def resolve_prefix(self, prefix: str) -> int:
        """Every open alert whose key starts with ``prefix`` (all of one shipment's)."""
        resolved = core(self.session).execute(
            update(Alert)
            .where(Alert.open_key.startswith(prefix, autoescape=True))
            .values(open_key=None, resolved_at=utcnow())
        )
        return rows_changed(resolved)

    def page(
        self,
        *,
        kind: AlertKind | None,
        include_resolved: bool,
        limit: int,
        before_id: int | None,
        role: AlertRole | None = None,
    ) -> list[Alert]:
        """Newest first; ``before_id`` continues a listing; ``role``: only those addressed to it."""
        query = select(Alert).order_by(Alert.id.desc()).limit(limit)
        if kind:
            query = query.where(Alert.kind == kind)
        if role:
            query = query.where(Alert.role == role)
        if not include_resolved:
            query = query.where(Alert.resolved_at.is_(None))
        if before_id is not None:
            query = query.where(Alert.id < before_id)
        return list(self.session.scalars(query))


_LOW_ACTIVITY = select(Customer.low_activity).where(Customer.id == bindparam("customer_id"))


class CustomerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, customer_id: str) -> Customer | None:
        return self.session.get(Customer, customer_id)

    def change_contact(self, customer_id: str, *, email: str, name: str) -> Customer | None:
        customer = self.session.get(Customer, customer_id)
        if customer is not None:
            customer.email, customer.name = email, name
        return customer

    def is_low_activity(self, customer_id: str) -> bool:
        """Without loading the customer, whose sealed contact details are not needed."""
        low = core(self.session).execute(_LOW_ACTIVITY, {"customer_id": customer_id}).scalar()
        return bool(low)

    def record_confirmation(
        self, order_id: str, customer_id: str, *, automatic: bool, at: datetime
    ) -> None:
        """How this order's window ended, once per order. The customer's row is locked, so two
        windows ending at once both see each other before the low-activity tag is decided."""
        self.session.get(Customer, customer_id, with_for_update=True)
        insert_once(
            self.session,
            ConfirmationOutcome,
            {"order_id": order_id, "customer_id": customer_id, "automatic": automatic, "at": at},
        )

    def recent_confirmations(self, customer_id: str, limit: int) -> list[bool]:
        """Newest first: True where the window ran out unconfirmed."""
        return list(
            self.session.scalars(
                select(ConfirmationOutcome.automatic)
                .where(ConfirmationOutcome.customer_id == customer_id)
                .order_by(ConfirmationOutcome.at.desc(), ConfirmationOutcome.order_id.desc())
                .limit(limit)
            )
        )

    def tag_low_activity(self, customer_id: str) -> None:
        self.session.execute(
            update(Customer).where(Customer.id == customer_id).values(low_activity=True)
        )


class NotificationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def write_once(
        self,
        order_id: str,
        *,
        key: str,
        recipient: str,
        message: str,
        due_at: datetime | None = None,
    ) -> None:
        """The notification under ``key``, unless an earlier attempt wrote it; due at once
        unless ``due_at`` says later."""
        now = utcnow()
        insert_once(
            self.session,
            Notification,
            {
                "order_id": order_id,
                "key": key,
                "recipient": recipient,
                "message": message,
                "created_at": now,
                "due_at": due_at or now,
            },
        )

    def id_of(self, order_id: str, key: str) -> int:
        """The ID of the order's notification under ``key``, once written."""
        found = self.session.scalar(
            select(Notification.id).where(
                Notification.order_id == order_id, Notification.key == key
            )
        )
        assert found is not None, f"no {key} notification for {order_id}"
        return found

    def pending(
        self,
        *,
        due_after: datetime,
        written_before: datetime,
        now: datetime,
        max_attempts: int,
        limit: int,
        while_awaiting_receipt: Sequence[str] = (),
    ) -> list[int]:
        """IDs of undelivered notifications due by ``now`` (and not before ``due_after``) and
        written before ``written_before``, oldest first. Those under
        ``while_awaiting_receipt`` keys only while their order waits for the customer to
        confirm receipt (a reminder means nothing once the order is completed)."""
        query = (
            select(Notification.id)
            .join(Order, Order.id == Notification.order_id)
            .where(
                Notification.sent_at.is_(None),
                Notification.due_at >= due_after,
                Notification.due_at <= now,
                Notification.created_at < written_before,
                Notification.attempts < max_attempts,
                or_(
                    Notification.key.not_in(while_awaiting_receipt),
                    Order.status.in_(AWAITING_RECEIPT),
                ),
            )
            .order_by(Notification.id)
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def mark_sent(self, notification_id: int, at: datetime) -> None:
        self.session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(sent_at=at, last_error=None, attempts=Notification.attempts + 1)
        )

    def mark_failed(self, notification_id: int, error: str) -> None:
        self.session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(last_error=error, attempts=Notification.attempts + 1)
        )


STAGE_COLUMNS = {stage: f"{stage.value}_at" for stage in TrackingStage}
WAREHOUSE_AND_CARRIER_STAMPS = (
    "label_bought_at", "pick_started_at", "packed_at", *STAGE_COLUMNS.values(), "resumed_at",
)  # fmt: skip

# A shipment in one of these is no longer on its way: nothing about it can be late.
FINISHED_SHIPMENTS = (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED, ShipmentStatus.VOIDED)
# Every carrier report asks which parcel it is about: four columns, not the shipment's row.
_PARCEL_BY_TRACKING = select(
    Shipment.order_id, Shipment.package, Shipment.tracked_by, Shipment.status
).where(
    Shipment.carrier == bindparam("carrier"),
    Shipment.tracking_number == bindparam("tracking_number"),
)


class ShipmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, shipment_id: str) -> Shipment | None:
        return self.session.get(Shipment, shipment_id)

    def for_order(self, order_id: str) -> list[Shipment]:
        query = select(Shipment).where(Shipment.order_id == order_id)
        return list(self.session.scalars(query.order_by(Shipment.package)))

    def parcel_on_record(self, carrier: str, tracking_number: str) -> ParcelOnRecord | None:
        row = (
            core(self.session)
            .execute(_PARCEL_BY_TRACKING, {"carrier": carrier, "tracking_number": tracking_number})
            .first()
        )
        if row is None:
            return None
        order_id, package, tracked_by, status = row
        return ParcelOnRecord(
            order_id=order_id,
            package=package,
            tracked_by=ParcelTracker(tracked_by),
            ended=status in FINISHED_SHIPMENTS,
        )

    def tracker(self, order_id: str, package: int) -> ParcelTracker:
        """Who follows the package's parcel; its own ShipmentWorkflow until a label says."""
        tracked_by = self.session.scalar(
            select(Shipment.tracked_by).where(
                Shipment.order_id == order_id, Shipment.package == package
            )
        )
        return ParcelTracker(tracked_by or ParcelTracker.SHIPMENT)

    def record_label(self, request: LabelRequest, label: LabelView) -> None:
        now = utcnow()
        insert_once(
            self.session,
            Shipment,
            {
                "id": request.shipment_id,
                "order_id": request.order_id,
                "package": request.package,
                "carrier": label.carrier,
                "label_id": label.label_id,
                "tracking_number": label.tracking_number,
                "transaction_id": request.transaction_id,
                "status": ShipmentStatus.LABEL_BOUGHT,
                "tracked_by": request.tracked_by,
                "created_at": now,
                "label_bought_at": now,
                "ready_at": request.ready_at,
            },
        )

    def stamp(
        self,
        shipment_id: str,
        stage: TrackingStage,
        at: datetime,
        *,
        resumed: bool = False,
        keep_status: bool = False,
    ) -> None:
        """The first report of a stage sets its stamp; the status only moves forward, except
        when the parcel moves on after an exception (``resumed``), and not at all for a
        report the parcel already moved past (``keep_status``)."""
        shipment = self.session.get(Shipment, shipment_id, with_for_update=True)
        if shipment is None:
            raise LookupError(f"no shipment {shipment_id}")
        column = STAGE_COLUMNS[stage]
        if getattr(shipment, column) is None:
            setattr(shipment, column, at)
        if resumed:
            shipment.status, shipment.resumed_at = stage.value, at
        elif not keep_status and progress_rank(stage) >= progress_rank(shipment.status):
            shipment.status = stage.value

    def stamp_warehouse(self, shipment_id: str, step: str, at: datetime) -> None:
        """``pick_started`` at the first scan, ``packed`` once every unit is scanned."""
        shipment = self.session.get(Shipment, shipment_id)
        if shipment is None:
            raise LookupError(f"no shipment {shipment_id}")
        if getattr(shipment, f"{step}_at") is None:
            setattr(shipment, f"{step}_at", at)

    def stuck(
        self, *, now: datetime, longer_than: timedelta
    ) -> list[tuple[Shipment, str, datetime]]:
        """Parcels still on their way whose last stage is older than ``longer_than``: each
        with that stage and since when, longest stuck first."""
        open_ = select(Shipment).where(Shipment.status.not_in(FINISHED_SHIPMENTS))
        stuck = []
        for shipment in self.session.scalars(open_):
            stage, since = max(
                (
                    (column.removesuffix("_at"), at)
                    for column in WAREHOUSE_AND_CARRIER_STAMPS
                    if (at := getattr(shipment, column)) is not None
                ),
                key=lambda stamp: stamp[1],
            )
            if now - since > longer_than:
                stuck.append((shipment, stage, since))
        return sorted(stuck, key=lambda item: item[2])

    def void(self, shipment_id: str, at: datetime) -> None:
        shipment = self.session.get(Shipment, shipment_id)
        if shipment is not None and shipment.voided_at is None:
            shipment.status, shipment.voided_at = ShipmentStatus.VOIDED, at


# Each stage runs from one stamp of a shipment to the next.
STAGE_SPANS: dict[Stage, tuple[str, str]] = {
    Stage.PICK: ("ready_at", "pick_started_at"),
    Stage.PACK: ("pick_started_at", "packed_at"),
    Stage.HANDOVER: ("packed_at", "picked_up_at"),
    Stage.TRANSIT: ("picked_up_at", "delivered_at"),
}


class SlaStatisticsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def recent_durations(self, stage: Stage, *, since: datetime, limit: int) -> list[timedelta]:
        """The newest ``limit`` durations of the stage among parcels that finished it after
        ``since``. A stage passed in no time (a one-unit package is packed at its first
        scan) is no sample of how long it takes."""
        start, end = (getattr(Shipment, column) for column in STAGE_SPANS[stage])
        rows = self.session.execute(
            select(start, end)
            .where(start.is_not(None), end > start, end >= since)
            .order_by(end.desc())
            .limit(limit)
        )
        return [finished - started for started, finished in rows]

    def save(self, statistics: Sequence[StageStatistics]) -> None:
        for summary in statistics:
            row = self.session.get(SlaStatistic, summary.stage.value) or SlaStatistic(
                stage=summary.stage.value
            )
            row.samples = summary.samples
            row.mean_seconds = summary.mean.total_seconds()
            row.stddev_seconds = summary.stddev.total_seconds()
            row.computed_at = summary.computed_at
            self.session.add(row)

    def all(self) -> list[StageStatistics]:
        return [
            StageStatistics(
                stage=Stage(row.stage),
                samples=row.samples,
                mean=timedelta(seconds=row.mean_seconds),
                stddev=timedelta(seconds=row.stddev_seconds),
                computed_at=row.computed_at,
            )
            for row in self.session.scalars(select(SlaStatistic).order_by(SlaStatistic.stage))
        ]
