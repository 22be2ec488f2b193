"""An address change's steps: the order's address, each parcel relabelled or rerouted, and
an exception for support when one can't be."""

from __future__ import annotations

import time

from temporalio import activity

from domain.addresses import (
    AddressChange,
    AddressChangeClosed,
    AddressChangeStatus,
    Reroute,
    Rerouted,
    RerouteRequest,
)
from domain.contract import AlertKind, AlertLevel, AlertRole, shipment_workflow_id
from integrations.carriers import Carrier, Label, LabelAlreadyUsed, Parcel, TooLateToReroute
from store.addresses import AddressChangeRepository
from store.db import SessionFactory, transaction
from store.models import Package as PackageRow
from store.repositories import AlertRepository, ShipmentRepository

# How long a relabel waits for a shipment that is buying its first label right now.
FIRST_LABEL_WAIT_SECONDS = 10.0


class AddressActivities:
    def __init__(self, sessions: SessionFactory, carriers: dict[str, Carrier]) -> None:
        self.sessions = sessions
        self.carriers = carriers

    @activity.defn
    def apply_address(self, change: AddressChange) -> None:
        assert change.order_id is not None
        with transaction(self.sessions) as session:
            AddressChangeRepository(session).apply(change.change_id, change.order_id)

    @activity.defn
    def relabel_package(self, request: RerouteRequest) -> Rerouted:
        """Void the package's label and buy one for the new address. The new label is bought
        first, under the change's key, so a retry finds it and never voids it; if the old
        one can't be voided any more (picked up), the new one is voided instead."""
        shipment_id = shipment_workflow_id(request.order_id, request.package)
        first = self._first_label(shipment_id)
        if first is None:
            return Rerouted(
                package=request.package, how=Reroute.TOO_LATE, problem="no label was bought"
            )
        carrier_name, old_label = first
        with transaction(self.sessions) as session:
            city = AddressChangeRepository(session).apply(request.change_id, request.order_id)
            package = session.get(PackageRow, (request.order_id, request.package))
            assert package is not None
            parcel = Parcel(
                shipment_id=shipment_id,
                origin_warehouse=package.warehouse,
                destination_city=city,
                weight_grams=package.weight_grams,
                insured_value=package.value if package.insured else 0,
            )
        carrier = self.carriers[carrier_name]
        new = carrier.buy_label(parcel, key=f"{shipment_id}/address-{request.change_id}")
        if new.label_id == old_label:  # a retry: done before
            return _relabelled(request.package, new)
        try:
            carrier.void_label(old_label)
        except LabelAlreadyUsed:
            carrier.void_label(new.label_id)
            return Rerouted(
                package=request.package, how=Reroute.TOO_LATE, problem="picked up meanwhile"
            )
        with transaction(self.sessions) as session:
            AddressChangeRepository(session).relabel(
                shipment_id, label_id=new.label_id, tracking_number=new.tracking_number
            )
        return _relabelled(request.package, new)

    def _first_label(self, shipment_id: str) -> tuple[str, str] | None:
        """The shipment's carrier and label once it has its first: a shipment buys one as
        it starts, so this waits a little for one being bought right now; None if none
        comes."""
        deadline = time.monotonic() + FIRST_LABEL_WAIT_SECONDS
        while True:
            with transaction(self.sessions) as session:
                shipment = ShipmentRepository(session).get(shipment_id)
                label = (shipment.carrier, shipment.label_id) if shipment else None
            if label is not None and label[1] is not None:
                return label[0], label[1]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)

    @activity.defn
    def intercept_package(self, request: RerouteRequest) -> Rerouted:
        """Ask the carrier to send a parcel it has to the new address."""
        shipment_id = shipment_workflow_id(request.order_id, request.package)
        with transaction(self.sessions) as session:
            shipment = ShipmentRepository(session).get(shipment_id)
            if shipment is None or shipment.tracking_number is None:
                return Rerouted(
                    package=request.package, how=Reroute.TOO_LATE, problem="no label to reroute"
                )
            city = AddressChangeRepository(session).apply(request.change_id, request.order_id)
            carrier_name, tracking = shipment.carrier, shipment.tracking_number
        try:
            self.carriers[carrier_name].intercept(
                tracking, city=city, key=f"address-{request.change_id}"
            )
        except TooLateToReroute as error:
            return Rerouted(package=request.package, how=Reroute.TOO_LATE, problem=str(error))
        return Rerouted(package=request.package, how=Reroute.INTERCEPTED, tracking_number=tracking)

    @activity.defn
    def close_address_change(self, closed: AddressChangeClosed) -> None:
        """The change's row; a parcel that couldn't be rerouted becomes support's, with the
        time by which someone must act."""
        outcome = closed.outcome
        with transaction(self.sessions) as session:
            AddressChangeRepository(session).close(outcome)
            if outcome.status == AddressChangeStatus.NEEDS_PERSON and outcome.decide_by:
                AlertRepository(session).raise_once(
                    kind=AlertKind.ADDRESS,
                    key=_exception_key(closed.order_id, outcome.change_id),
                    level=AlertLevel.YELLOW,
                    subject=closed.order_id,
                    message=f"{outcome.note}; decide by {outcome.decide_by:%Y-%m-%d %H:%M} UTC",
                    role=AlertRole.SUPPORT,
                )

    @activity.defn
    def escalate_address_change(self, closed: AddressChangeClosed) -> None:
        """The exception's time ran out with nobody on it: the alert goes red."""
        with transaction(self.sessions) as session:
            AlertRepository(session).escalate(
                _exception_key(closed.order_id, closed.outcome.change_id),
                f"overdue: {closed.outcome.note}",
            )


def _relabelled(package: int, label: Label) -> Rerouted:
    return Rerouted(
        package=package,
        how=Reroute.RELABELLED,
        tracking_number=label.tracking_number,
        carrier=label.carrier,
        label_id=label.label_id,
    )


def _exception_key(order_id: str, change_id: int) -> str:
    return f"address:{order_id}:{change_id}"
