"""Changing where a running order goes (the ``change_address`` update).

Before anything is labelled, the new address is simply the order's. A parcel still at the
warehouse is relabelled (its label voided, one bought for the new address); one the carrier
has is rerouted if the carrier still can. A parcel that can't follow the change makes it an
exception for support, due within the channel's ``address_decision_within``; the alert turns
red when that runs out. The address itself never enters the workflow: only the change's ID.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import FailureError

from domain import steps
from domain.addresses import (
    AddressChange,
    AddressChangeClosed,
    AddressChangeStatus,
    AddressOutcome,
    Reroute,
    Rerouted,
    RerouteRequest,
)
from domain.contract import ShipmentSignal, shipment_workflow_id
from domain.errors import ActionRefused, OrderflowError
from domain.failures import as_failure
from domain.order import is_final
from domain.shipping import LabelView
from workflows.order import parcels
from workflows.order.state import OrderState, Parcel
from workflows.steps import step

# A relabel voids a label once it bought the new one: it is tried until done, as any step
# (waiting for the database); a carrier that refuses is an answer, not a failure.
ON_THE_WAY = (Parcel.AT_WAREHOUSE, Parcel.WITH_CARRIER)


def validate(state: OrderState) -> None:
    if state.cancel_request is not None:
        raise as_failure(ActionRefused("the order is being cancelled"))
    if is_final(state.status):
        raise as_failure(ActionRefused(f"order is {state.status}: nothing left to send"))
    if state.parcels and not any(p in ON_THE_WAY for p in state.parcels.values()):
        raise as_failure(
            ActionRefused("every parcel has arrived or come back: nothing left to send elsewhere")
        )


async def change_address(state: OrderState, change: AddressChange) -> AddressOutcome:
    async with state.changes:
        validate(state)  # again: the parcels may have moved on while a change went before
        # Recorded before anything moves: a regular activity ends the accepting task.
        mine = change.model_copy(update={"order_id": state.order.order_id})
        try:
            await step(steps.APPLY_ADDRESS, mine, through_server=True)
        except OrderflowError as error:  # no such change for this order: a typo, say
            raise as_failure(error) from error
        rerouted = [await _reroute(state, change, n) for n in _travelling(state)]
        outcome = _outcome(state, change, rerouted)
        closed = AddressChangeClosed(order_id=state.order.order_id, outcome=outcome)
        await state.step(steps.CLOSE_ADDRESS_CHANGE, closed)
        await state.note(outcome.note)
        if outcome.decide_by is not None:
            # Kept on the state: a task nobody refers to may be collected before it runs.
            state.timers.append(asyncio.create_task(_escalate_when_due(state, closed)))
        return outcome


def _travelling(state: OrderState) -> list[int]:
    return [number for number, at in sorted(state.parcels.items()) if at in ON_THE_WAY]


async def _reroute(state: OrderState, change: AddressChange, package: int) -> Rerouted:
    request = RerouteRequest(
        order_id=state.order.order_id, package=package, change_id=change.change_id
    )
    if state.parcels[package] == Parcel.AT_WAREHOUSE:
        done = await state.step(steps.RELABEL_PACKAGE, request)
        if done.how == Reroute.RELABELLED:
            await _tell_shipment(state, done)
            return done
    return await state.step(steps.INTERCEPT_PACKAGE, request)


async def _tell_shipment(state: OrderState, done: Rerouted) -> None:
    assert done.carrier and done.label_id and done.tracking_number
    label = LabelView(
        carrier=done.carrier, label_id=done.label_id, tracking_number=done.tracking_number
    )
    if parcels.relabelled(state, done.package, label):
        return
    shipment = workflow.get_external_workflow_handle(
        shipment_workflow_id(state.order.order_id, done.package)
    )
    try:
        await shipment.signal(ShipmentSignal.LABEL_CHANGED, label)
    except FailureError:
        pass  # its way has ended meanwhile


def _outcome(state: OrderState, change: AddressChange, rerouted: list[Rerouted]) -> AddressOutcome:
    said = {
        Reroute.RELABELLED: "relabelled",
        Reroute.INTERCEPTED: "rerouted by the carrier",
        Reroute.TOO_LATE: "could not be rerouted",
    }
    parts = [
        f"package {r.package} {said[r.how]}"
        + (f" ({r.tracking_number})" if r.how == Reroute.RELABELLED else "")
        + (f" ({r.problem})" if r.problem else "")
        for r in rerouted
    ] or ["nothing labelled yet: the packages are planned for it"]
    signed = f" (by {change.by})" if change.by else ""
    stuck = any(r.how == Reroute.TOO_LATE for r in rerouted)
    note = f"address changed, {change.reason}{signed}: {'; '.join(parts)}"
    if not stuck:
        return AddressOutcome(
            change_id=change.change_id,
            status=AddressChangeStatus.APPLIED,
            note=note,
            packages=rerouted,
        )
    return AddressOutcome(
        change_id=change.change_id,
        status=AddressChangeStatus.NEEDS_PERSON,
        note=f"{note}; support decides",
        packages=rerouted,
        decide_by=workflow.now() + state.order.policy.stock.address_decision_within,
    )


async def _escalate_when_due(state: OrderState, closed: AddressChangeClosed) -> None:
    assert closed.outcome.decide_by is not None
    await workflow.sleep(closed.outcome.decide_by - workflow.now())
    await state.step(steps.ESCALATE_ADDRESS_CHANGE, closed)
