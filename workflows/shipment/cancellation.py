"""A cancelled shipment voids its label while it still can. Once the carrier has the
parcel it travels on, and the carrier is asked at once, so the order (and whoever asked to
cancel) learns of the pickup without waiting for the report."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, CancelledError

from domain import steps
from domain.contract import ShipmentOutcome
from domain.shipping import ParcelEvent, ShipmentResult
from workflows.shipment import tracking
from workflows.shipment.state import ShipmentState
from workflows.steps import A_FEW_TRIES


async def cancel(state: ShipmentState) -> ShipmentResult | None:
    """The result if the label was voided; None when the parcel travels on."""
    if state.handed_over:
        state.cancel_requested = False  # too late
        return None
    if await state.step(steps.VOID_LABEL, state.hand_over()):
        return state.result(ShipmentOutcome.CANCELLED, "label voided before pickup")
    state.cancel_requested = False
    for event in await _ask_carrier(state):
        tracking.receive(state, event)
    return None


async def _ask_carrier(state: ShipmentState) -> list[ParcelEvent]:
    """The carrier's tracking, or nothing when it can't tell us now: its webhook will."""
    try:
        return await state.step(steps.CARRIER_TRACKING, state.hand_over(), A_FEW_TRIES)
    except ActivityError as error:
        if isinstance(error.cause, CancelledError):
            raise
        return []
