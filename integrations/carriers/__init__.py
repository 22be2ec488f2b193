"""Carriers behind one small interface: buy a label (idempotent by key), void it, and the
tracking events they send back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# What adapters speak: the stages, and a tracking report as the shipment workflow takes it.
from domain.shipping import ParcelEvent as ParcelEvent
from domain.shipping import TrackingStage as TrackingStage


@dataclass(frozen=True)
class Label:
    carrier: str
    label_id: str
    tracking_number: str


@dataclass(frozen=True)
class Parcel:
    """What the carrier needs to sell a label; no names or addresses beyond the city."""

    shipment_id: str
    origin_warehouse: str
    destination_city: str
    weight_grams: int
    insured_value: int  # minor units; 0 when not insured


@dataclass(frozen=True)
class ReturnParcel:
    """A customer's parcel coming back: picked up in their city, for the warehouse."""

    rma: str
    from_city: str
    to_warehouse: str
    weight_grams: int


class CarrierError(RuntimeError):
    """The carrier refused or could not be reached; retrying may help."""


class TooLateToReroute(CarrierError):
    """The carrier can no longer send the parcel elsewhere (out for delivery, say)."""


class LabelAlreadyUsed(CarrierError):
    """The parcel has been picked up: its label can no longer be voided."""


class Carrier(Protocol):
    name: str

    def buy_label(self, parcel: Parcel, *, key: str) -> Label:
        """The same ``key`` always returns the same label: a retry never buys two."""

    def return_label(self, parcel: ReturnParcel, *, key: str) -> Label:
        """A return label the customer prints; the same ``key``, the same label."""

    def void_label(self, label_id: str) -> None:
        """Idempotent; raises ``LabelAlreadyUsed`` once the parcel is picked up."""

    def intercept(self, tracking_number: str, *, city: str, key: str) -> None:
        """Reroute a parcel the carrier has to ``city``, once per key; raises
        ``TooLateToReroute`` when it can't any more."""

    def tracking(self, tracking_number: str) -> list[ParcelEvent]:
        """Every event the carrier recorded for the parcel, oldest first: for when its
        webhooks haven't arrived (yet)."""
