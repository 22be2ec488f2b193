"""Changing where an order goes while it runs.

Before anything is labelled the new address is simply the order's: its packages are planned
and labelled for it. A label bought for the old one is voided and bought again; a parcel the
carrier already has is rerouted if the carrier still can; one it can't reroute (out for
delivery, say) is an exception for support, with a deadline. The address itself stays in the
database, sealed: the workflow only passes the change's ID.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class AddressChangeStatus(StrEnum):
    REQUESTED = "requested"
    APPLIED = "applied"  # every parcel not yet arrived goes to the new address
    NEEDS_PERSON = "needs_person"  # a parcel could not be rerouted: support decides
    REFUSED = "refused"  # too late for all of it: nothing changed


class Reroute(StrEnum):
    RELABELLED = "relabelled"  # the old label voided, a new one bought
    INTERCEPTED = "intercepted"  # the carrier sends it to the new address
    TOO_LATE = "too_late"  # the carrier can't reroute it any more


class AddressChange(BaseModel):
    """The ``change_address`` update's argument: the change's row holds the address."""

    change_id: int
    reason: str = Field(min_length=1, max_length=500)
    by: str | None = None
    order_id: str | None = None  # filled in by the order itself


class RerouteRequest(BaseModel):
    order_id: str
    package: int
    change_id: int


class Rerouted(BaseModel):
    package: int
    how: Reroute
    tracking_number: str | None = None
    carrier: str | None = None  # a new label's, for the shipment
    label_id: str | None = None
    problem: str | None = None


class AddressOutcome(BaseModel):
    change_id: int
    status: AddressChangeStatus
    note: str
    packages: list[Rerouted] = []
    decide_by: datetime | None = None  # for support, when a parcel could not be rerouted


class AddressChangeClosed(BaseModel):
    """The change's row, once decided; and the exception support must take up, if any."""

    order_id: str
    outcome: AddressOutcome
