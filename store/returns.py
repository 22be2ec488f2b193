"""Returns in the database: what an order can still send back, the RMA rows, the units that
came back (restocked or quarantined)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from domain.contract import MovementKind, ShipmentStatus
from domain.order import OrderStatus
from domain.refunds import RefundLine, RefundStatus
from domain.returns import LAPSED, ReturnStatus
from store.inserts import insert_once
from store.models import (
    Order,
    OrderEvent,
    Package,
    Refund,
    ReturnRow,
    Shipment,
    StockLevel,
    StockMovement,
    utcnow,
)
from store.repositories import StockRepository


class ReturnRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_order(self, order_id: str) -> Order | None:
        """The order's row, held until the transaction ends: two returns of one order are
        opened one after the other, each counting the other's units."""
        return self.session.get(Order, order_id, with_for_update=True)

    def delivered(self, order_id: str) -> tuple[dict[str, tuple[int, str]], datetime | None]:
        """Per SKU: units in the order's delivered parcels, and the warehouse they left; and
        when the order learned it (``delivered``, or the hold a returned parcel caused): the
        return window's start, on our clock rather than the carrier's."""
        learned = self.session.scalar(
            select(func.max(OrderEvent.at)).where(
                OrderEvent.order_id == order_id, OrderEvent.status == OrderStatus.DELIVERED.value
            )
        ) or self.session.scalar(
            select(func.max(OrderEvent.at)).where(
                OrderEvent.order_id == order_id, OrderEvent.status == OrderStatus.ON_HOLD.value
            )
        )
        rows = self.session.execute(
            select(Package.lines, Package.warehouse)
            .join(
                Shipment,
                (Shipment.order_id == Package.order_id) & (Shipment.package == Package.number),
            )
            .where(Package.order_id == order_id, Shipment.status == ShipmentStatus.DELIVERED.value)
        ).all()
        units: dict[str, tuple[int, str]] = {}
        for lines, warehouse in rows:
            for line in lines:
                count = units.get(line["sku"], (0, warehouse))[0]
                units[line["sku"]] = (count + int(line["quantity"]), warehouse)
        return units, learned

    def abandon(self, rma: str) -> None:
        """An RMA whose workflow could not be started (Temporal away): its units free again,
        its exchange's stock back on sale. The row stays, so its number is never reused."""
        row = self.session.get(ReturnRow, rma)
        if row is None:
            return
        row.status, row.closed_at = ReturnStatus.ABANDONED.value, utcnow()
        if row.replacement:
            package = int(row.replacement["package"])
            StockRepository(self.session).release_packages(row.order_id, [package])
            self.session.execute(
                delete(Package).where(Package.order_id == row.order_id, Package.number == package)
            )

    def unit_prices(self, order: Order) -> dict[str, int]:
        """What a unit of each SKU the order delivered counts for: its price in the order,
        or, for an exchange's replacement, the price it was exchanged at."""
        prices: dict[str, int] = {}
        for replacement in self.session.scalars(
            select(ReturnRow.replacement).where(
                ReturnRow.order_id == order.id, ReturnRow.replacement.is_not(None)
            )
        ):
            prices.update({sku: int(p) for sku, p in (replacement or {}).get("prices", {}).items()})
        prices.update({line.sku: line.unit_price for line in order.lines})
        return prices

    def not_refunded(self, order_id: str) -> Counter[str]:
        """Per SKU: delivered units no refund has covered yet (by lines, or a return's)."""
        delivered, _ = self.delivered(order_id)
        left = Counter({sku: units for sku, (units, _) in delivered.items()})
        for units in self.session.scalars(
            select(Refund.units).where(
                Refund.order_id == order_id,
                Refund.status == RefundStatus.REFUNDED.value,
                Refund.units.is_not(None),
            )
        ):
            left.subtract({sku: int(n) for sku, n in (units or {}).items()})
        return left

    def spoken_for(self, order_id: str) -> Counter[str]:
        """Per SKU: units already on their way back (an RMA not expired) or refunded by
        lines: they can't be returned again."""
        taken: Counter[str] = Counter()
        returns = self.session.scalars(
            select(ReturnRow.lines).where(
                ReturnRow.order_id == order_id,
                ReturnRow.status.not_in([status.value for status in LAPSED]),
            )
        )
        for lines in returns:
            taken.update({line["sku"]: int(line["quantity"]) for line in lines})
        refunded = self.session.scalars(
            select(Refund.units).where(
                Refund.order_id == order_id,
                Refund.status == RefundStatus.REFUNDED.value,
                Refund.units.is_not(None),
                # A return's refund names the units its RMA already counts.
                Refund.purpose.not_like("return-%"),
            )
        )
        for units in refunded:
            taken.update({sku: int(quantity) for sku, quantity in (units or {}).items()})
        return taken

    def count(self, order_id: str) -> int:
        return int(
            self.session.scalar(
                select(func.count()).select_from(ReturnRow).where(ReturnRow.order_id == order_id)
            )
            or 0
        )

    def add(self, row: ReturnRow) -> None:
        self.session.add(row)

    def get(self, rma: str) -> ReturnRow | None:
        return self.session.get(ReturnRow, rma)

    def for_order(self, order_id: str) -> list[ReturnRow]:
        return list(
            self.session.scalars(
                select(ReturnRow).where(ReturnRow.order_id == order_id).order_by(ReturnRow.rma)
            )
        )

    def payment(self, rma: str, *, payment_intent_id: str, client_secret: str) -> None:
        row = self.session.get(ReturnRow, rma)
        assert row is not None
        row.payment_intent_id, row.client_secret = payment_intent_id, client_secret

    def label(self, rma: str, *, carrier: str, tracking_number: str) -> None:
        self.session.execute(
            update(ReturnRow)
            .where(ReturnRow.rma == rma)
            .values(carrier=carrier, tracking_number=tracking_number)
        )

    def track(self, carrier: str, tracking_number: str, what: str, at: datetime) -> str | None:
        """A return parcel's carrier report, noted on its RMA while it is on its way back;
        the RMA, or None when no open return has that parcel."""
        row = self.session.scalar(
            select(ReturnRow).where(
                ReturnRow.carrier == carrier,
                ReturnRow.tracking_number == tracking_number,
                ReturnRow.status == ReturnStatus.OPEN.value,
            )
        )
        if row is None:
            return None
        row.note = f"{what} ({at:%Y-%m-%d %H:%M} UTC)"
        return row.rma

    def stamp(self, rma: str, status: ReturnStatus, at: datetime, note: str | None) -> None:
        values: dict[str, Any] = {"status": status.value}
        if note is not None:
            values["note"] = note
        if status == ReturnStatus.RECEIVED:
            values["received_at"] = at
        elif status != ReturnStatus.OPEN:
            values["closed_at"] = at
        self.session.execute(update(ReturnRow).where(ReturnRow.rma == rma).values(**values))

    def take_back(
        self, rma: str, order_id: str, warehouse: str, lines: list[RefundLine], kind: MovementKind
    ) -> list[tuple[str, str]]:
        """The units in the warehouse's ledger, once: ``restock`` puts them on the shelf,
        ``quarantine`` only records where they are. Returns the places restocked."""
        restocked = []
        for line in lines:
            moved = insert_once(
                self.session,
                StockMovement,
                {
                    "reference": rma,
                    "order_id": order_id,
                    "package": None,
                    "sku": line.sku,
                    "warehouse": warehouse,
                    "kind": kind,
                    "quantity": line.quantity,
                    "created_at": utcnow(),
                },
            )
            if moved and kind == MovementKind.RESTOCK:
                level = self.session.get(StockLevel, (line.sku, warehouse), with_for_update=True)
                if level is None:  # the parcel came back to a warehouse that never held it
                    self.session.add(
                        StockLevel(sku=line.sku, warehouse=warehouse, on_hand=line.quantity)
                    )
                else:
                    level.on_hand += line.quantity
                restocked.append((line.sku, warehouse))
        return restocked
