"""Before the parcel can leave: its stock still reserved for it, a label, the stage limits."""

from __future__ import annotations

from domain import steps
from domain.contract import ShipmentOutcome
from domain.errors import UnknownCarrier
from domain.shipping import LabelRequest, ParcelPreparation, ShipmentResult, StageLimits
from workflows.shipment.state import ShipmentState

STOCK_GONE = "the package's stock is no longer reserved for it"


async def prepare(state: ShipmentState) -> ShipmentResult | None:
    """The result when the parcel can't leave; None when it is ready to. Three steps, or one
    for the parcel an order runs itself (the order's third shape)."""
    if state.order.prepares_in_one_step:
        return await _prepare_in_one_step(state)
    if not await state.step(steps.CHECK_PACKAGE_STOCK, state.hand_over()):
        return state.result(ShipmentOutcome.BLOCKED, STOCK_GONE)
    try:
        state.label = await state.step(steps.BUY_LABEL, label_request(state))
    except UnknownCarrier as error:  # a configuration error: no retry can fix it
        return state.result(ShipmentOutcome.BLOCKED, error.message)
    watched: StageLimits = await state.step(steps.STAGE_LIMITS, state.shipment.sla)
    state.limits = watched.limits
    return None


async def _prepare_in_one_step(state: ShipmentState) -> ShipmentResult | None:
    try:
        prepared = await state.step(
            steps.PREPARE_PARCEL,
            ParcelPreparation(label=label_request(state), sla=state.shipment.sla),
        )
    except UnknownCarrier as error:
        return state.result(ShipmentOutcome.BLOCKED, error.message)
    if prepared.label is None:
        return state.result(ShipmentOutcome.BLOCKED, STOCK_GONE)
    state.label, state.limits = prepared.label, prepared.limits
    return None


def label_request(state: ShipmentState) -> LabelRequest:
    shipment = state.shipment
    return LabelRequest(
        shipment_id=state.id,
        order_id=shipment.order_id,
        package=shipment.package,
        warehouse=shipment.warehouse,
        weight_grams=shipment.weight_grams,
        insured_value=shipment.insured_value,
        carrier=shipment.carrier,
        transaction_id=shipment.transaction_id,
        ready_at=shipment.ready_at,
        tracked_by=state.order.tracker,
    )
