"""Address changes in the database: the request (its address sealed), the order's address
once applied, and a shipment's label after it was bought again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from domain.addresses import AddressChangeStatus, AddressOutcome
from domain.errors import ActionRefused
from store.models import AddressChangeRow, Order, Shipment, utcnow


class AddressChangeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def request(self, order_id: str, address: dict[str, Any], reason: str, actor: str) -> int:
        row = AddressChangeRow(
            order_id=order_id,
            address=address,
            reason=reason,
            actor=actor,
            status=AddressChangeStatus.REQUESTED.value,
            created_at=utcnow(),
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def get(self, change_id: int) -> AddressChangeRow | None:
        return self.session.get(AddressChangeRow, change_id)

    def apply(self, change_id: int, order_id: str) -> str:
        """The order's address becomes the change's (again, on a retry: the same); returns
        the new city, for the carrier. A change of another order, or none, is refused."""
        change = self.session.get(AddressChangeRow, change_id)
        if change is None or change.order_id != order_id:
            raise ActionRefused(f"no address change {change_id} for order {order_id}")
        order = self.session.get(Order, change.order_id)
        assert order is not None
        if order.shipping_address != change.address:
            order.shipping_address = change.address
        return str(change.address.get("city", ""))

    def close(self, outcome: AddressOutcome) -> None:
        self.session.execute(
            update(AddressChangeRow)
            .where(AddressChangeRow.id == outcome.change_id)
            .values(status=outcome.status.value, note=outcome.note, decided_at=utcnow())
        )

    def refuse(self, change_id: int, note: str) -> None:
        self.session.execute(
            update(AddressChangeRow)
            .where(AddressChangeRow.id == change_id)
            .values(status=AddressChangeStatus.REFUSED.value, note=note, decided_at=utcnow())
        )

    def relabel(self, shipment_id: str, *, label_id: str, tracking_number: str) -> None:
        self.session.execute(
            update(Shipment)
            .where(Shipment.id == shipment_id)
            .values(label_id=label_id, tracking_number=tracking_number)
        )
