"""Fulfilment: every package's parcel followed until it arrived: a child ShipmentWorkflow
each, or the order's only parcel run by the order itself (``parcels.py``).

A cancellation before any pickup stops every parcel; one that comes after a pickup stops
only those still at the warehouse, whose money and stock are settled at once. A carrier
exception holds the order until the parcel moves again. A parcel that comes back, or never
leaves, leaves the order for a person to decide.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from temporalio import workflow

from domain import steps
from domain.confirmation import ParcelTimes, authenticity_doubts
from domain.contract import ShipmentOutcome
from domain.messages import PresaleNotice
from domain.order import OrderStatus
from domain.presale import realistic_ship_time
from domain.shipping import ParcelEvent, ShipmentInput, ShipmentResult, TrackingStage
from domain.sla import ship_by_marks
from domain.splitting import Package
from workflows.order import parcels
from workflows.order.parcels import Followed
from workflows.order.state import ENDED_AS, OrderState, Parcel
from workflows.waiting import wait_until

Settle = Callable[[OrderState, list[int]], Awaitable[None]]


class Shipped(StrEnum):
    DELIVERED = "delivered"  # every parcel that left arrived
    CANCELLED = "cancelled"  # every label voided before pickup
    STUCK = "stuck"  # a parcel came back or never left: a person decides


@dataclass(frozen=True)
class Fulfilment:
    outcome: Shipped
    problems: str = ""


async def ship_packages(state: OrderState, settle: Settle) -> Fulfilment:
    """Ship every package and follow the parcels; ``settle`` refunds and releases packages a
    late cancellation stopped while others travel on."""
    assert state.plan is not None
    packages = state.plan.packages
    ready_at = {p.number: await _presale_ready_at(state, p) for p in packages}
    state.parcels = {p.number: Parcel.AT_WAREHOUSE for p in packages}
    own = parcels.runs_its_parcel(state)
    # Started together: one workflow task, one round trip, however many packages.
    shipments = await asyncio.gather(
        *(
            parcels.start(state, _shipment_input(state, p, ready_at[p.number]), own=own)
            for p in packages
        )
    )
    ended = asyncio.gather(*(_follow(state, shipment) for shipment in shipments))
    forwarding = asyncio.create_task(_forward_manual_reports(state, shipments))
    # A shipment may end before any pickup (its stock gone: blocked); don't wait for one.
    await wait_until(
        lambda: state.first_pickup is not None or state.cancel_request is not None or ended.done()
    )
    if state.first_pickup is None and state.cancel_request is not None and not ended.done():
        await _cancel_all(shipments)
        # A parcel the carrier took before the cancellation reached it travels on: the
        # cancellation is refused as soon as its pickup is reported, not at its delivery.
        await wait_until(lambda: state.first_pickup is not None or ended.done())
    if state.first_pickup is not None:
        await state.stamp(OrderStatus.FULFILLING, _shipment_note(state))
        await _follow_parcels(state, ended, settle)
    results = await ended
    forwarding.cancel()
    return await _judge(state, results, settle)


async def _judge(state: OrderState, results: list[ShipmentResult], settle: Settle) -> Fulfilment:
    """Every parcel's way has ended: cancelled, stuck, or delivered (with any doubts about
    the delivery for the confirmation phase)."""
    if all(result.outcome == ShipmentOutcome.CANCELLED for result in results):
        return Fulfilment(Shipped.CANCELLED)
    if voided := _voided_unsettled(state):
        await settle(state, voided)
    problems = [
        f"package {r.package} {r.outcome}: {r.reason}"
        for r in results
        if r.outcome not in (ShipmentOutcome.DELIVERED, ShipmentOutcome.CANCELLED)
    ]
    if problems:
        return Fulfilment(Shipped.STUCK, "; ".join(problems))
    if state.status == OrderStatus.ALLOCATED:  # no pickup was reported before the delivery
        await state.stamp(OrderStatus.FULFILLING, _shipment_note(state))
    if state.status == OrderStatus.ON_HOLD:  # the parcel in trouble arrived after all
        await _resume(state)
    state.doubts = authenticity_doubts(
        [
            ParcelTimes(
                package=r.package,
                out_of_warehouse=r.packed_at,
                first_carrier_scan=r.picked_up_at,
                delivered=r.delivered_at,
            )
            for r in results
        ],
        state.order.policy.confirmation,
    )
    count = len(results)
    state.after_sales_from = workflow.now()  # the refund window starts
    await state.stamp(
        OrderStatus.DELIVERED, f"delivered: {count} package{'s' if count != 1 else ''}"
    )
    return Fulfilment(Shipped.DELIVERED)


async def _follow_parcels(
    state: OrderState, ended: asyncio.Future[list[ShipmentResult]], settle: Settle
) -> None:
    """While parcels travel: a carrier exception puts the order on hold for support, and
    once every parcel in trouble moves again, fulfilment resumes. A package a late
    cancellation stopped is settled as soon as its label is voided."""
    told: set[int] = set()  # the packages the timeline names as in trouble

    def out_of_step() -> bool:
        if state.status != OrderStatus.ON_HOLD:
            return bool(state.troubles)
        return set(state.troubles) != told

    while True:
        await wait_until(lambda: ended.done() or out_of_step() or bool(_voided_unsettled(state)))
        if ended.done():
            return
        if voided := _voided_unsettled(state):
            await settle(state, voided)
            continue
        if not state.troubles:
            told = set()
            await _resume(state)
            continue
        told = set(state.troubles)
        state.hold_reason = "; ".join(
            f"the carrier reported an exception for package {p.package} ({p.tracking_number})"
            for p in sorted(state.troubles.values(), key=lambda p: p.package)
        )
        if state.status == OrderStatus.ON_HOLD:  # another parcel in trouble, or one less
            await state.note(state.hold_reason)
        else:
            await state.stamp(OrderStatus.ON_HOLD, state.hold_reason)


def _voided_unsettled(state: OrderState) -> list[int]:
    return [
        number
        for number, parcel in sorted(state.parcels.items())
        if parcel == Parcel.VOIDED and number not in state.settled
    ]


async def _resume(state: OrderState) -> None:
    state.hold_reason = None
    await state.stamp(OrderStatus.FULFILLING, "the carrier is moving the parcels again")


async def _follow(state: OrderState, shipment: Followed) -> ShipmentResult:
    result = await shipment.result()
    state.parcels[result.package] = ENDED_AS[result.outcome]
    return result


async def _cancel_all(shipments: list[Followed]) -> None:
    for shipment in shipments:
        await shipment.cancel()


async def _presale_ready_at(state: OrderState, package: Package) -> datetime | None:
    """When a package with presale goods can ship; a promise less than 30 min away is
    moved to now + 120 min and the customer told."""
    order = state.order
    presale = {line.sku: line.presale_ships_at for line in order.lines if line.presale_ships_at}
    skus = sorted(line.sku for line in package.lines if line.sku in presale)
    if not skus:
        return None
    expected = max(presale[sku] for sku in skus)
    ready_at = realistic_ship_time(expected, workflow.now())
    if ready_at != expected:
        await state.step(
            steps.TELL_PRESALE_DATE,
            PresaleNotice(
                order_id=order.order_id,
                customer_id=order.customer_id,
                package=package.number,
                skus=skus,
                ships_at=ready_at,
            ),
        )
    return ready_at


def _shipment_input(
    state: OrderState, package: Package, ready_at: datetime | None
) -> ShipmentInput:
    order = state.order
    # The ship-by clock starts at payment, or when presale goods can ship, if later.
    start = max(state.paid_at(), ready_at or state.paid_at())
    return ShipmentInput(
        order_id=order.order_id,
        customer_id=order.customer_id,
        package=package.number,
        warehouse=package.warehouse,
        lines=package.lines,
        weight_grams=package.weight_grams,
        insured_value=package.value if package.insured else 0,
        transaction_id=f"{order.order_id}/{state.reservations}/{package.number}",
        sla_marks=ship_by_marks(start, order.channel, order.policy.sla),
        ready_at=start,
        sla=order.policy.sla,
    )


def _shipment_note(state: OrderState) -> str:
    pickup = state.first_pickup
    if pickup is None:
        return "shipped"
    return f"shipped with {pickup.carrier} ({pickup.tracking_number or 'no tracking number'})"


async def _forward_manual_reports(state: OrderState, shipments: list[Followed]) -> None:
    """``POST /orders/{id}/carrier-events`` (a person playing the carrier) reaches every
    parcel of the order; a parcel that already arrived ignores it."""
    while True:
        await workflow.wait_condition(lambda: bool(state.manual_reports))
        report = state.manual_reports.pop(0)
        stage = TrackingStage.DELIVERED if report.kind == "delivered" else TrackingStage.PICKED_UP
        event = ParcelEvent(
            carrier=report.carrier,
            event_id=f"manual-{report.kind}",
            tracking_number=report.tracking_number,
            stage=stage,
            at=workflow.now(),
        )
        for shipment in shipments:
            await shipment.report(event)
