"""Parcels on their way: one ShipmentWorkflow per package, driven through the API.

Each test buys and pays like a customer, lets the worker buy the labels from the sandbox
carrier, then plays the carrier: signed tracking reports to ``/webhooks/carriers/sandbox``,
in order, out of order, repeated, forged. Assertions read the API and the database rows
(shipments, the stock ledger, refunds) the way support would.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import ParcelTracker, shipment_workflow_id
from domain.order import OrderStatus
from integrations.signing import sign
from store.db import SessionFactory, transaction
from store.repositories import StockRepository
from tests.conftest import CARRIER_SECRET, Stack
from tests.workflows.shipping_support import (
    CARRIER_WEBHOOK,
    SHANGHAI,
    T0,
    error_code,
    get_order,
    ledger,
    lines,
    movements,
    paid_and_labelled,
    post_report,
    refunds,
    report,
    report_body,
    settle,
    shipment_rows,
    stamped,
    stock,
    wait_for,
    when,
)

# --- the carrier's reports -------------------------------------------------------------------


async def test_one_package_travels_on_the_sandbox_carriers_reports(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """Label at allocation; the pickup deducts the package's stock under its reservation
    reference; every later stage is stamped with the carrier's own time; delivered. The order
    follows its one parcel itself: the reports reach it, and one after the delivery is
    answered as too late."""
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id = order["id"]
    assert package["carrier"] == "sandbox"
    assert package["tracking_number"].startswith("SBX")
    assert package["shipment_status"] == "label_bought"
    assert set(package["stages"]) == {"label_bought"}
    tracking = package["tracking_number"]

    reference = f"{order_id}/1/1"
    assert ledger(sessions, order_id, "reserve") == [(reference, 1, "TEA-001", "HZ", 2)]
    [row] = shipment_rows(sessions, order_id)
    assert (row.id, row.package, row.transaction_id) == (f"shipment-{order_id}-1", 1, reference)
    assert (row.label_id or "").startswith("lbl_") and row.tracking_number == tracking
    assert row.tracked_by == ParcelTracker.ORDER
    assert stock(sessions, "TEA-001", "HZ") == (500, 2)
    assert ledger(sessions, order_id, "ship") == []

    # Picked up, reported in Shanghai time: the stamps are UTC.
    picked_up = (T0 + timedelta(hours=1)).astimezone(SHANGHAI)
    assert await report(stack, tracking, "picked_up", picked_up) == {
        "accepted": True,
        "detail": None,
    }
    body = await wait_for(stack, order_id, OrderStatus.FULFILLING)
    assert body["timeline"][-1]["note"] == f"shipped with sandbox ({tracking})"
    assert ledger(sessions, order_id, "ship") == [(reference, 1, "TEA-001", "HZ", 2)]
    assert stock(sessions, "TEA-001", "HZ") == (498, 0)

    times = {
        "picked_up": T0 + timedelta(hours=1),
        "in_transit": T0 + timedelta(hours=5),
        "out_for_delivery": T0 + timedelta(days=1, hours=1),
        "delivered": T0 + timedelta(days=1, hours=3, minutes=17, seconds=5),
    }
    for stage in ("in_transit", "out_for_delivery", "delivered"):
        assert (await report(stack, tracking, stage, times[stage]))["accepted"] is True
    body = await wait_for(stack, order_id, OrderStatus.DELIVERED, "delivered: 1 package")

    [package] = body["packages"]
    assert package["shipment_status"] == "delivered"
    assert set(package["stages"]) == {"label_bought", *times}
    assert {stage: when(package["stages"][stage]) for stage in times} == times
    [row] = shipment_rows(sessions, order_id)
    assert row.status == "delivered"
    assert (row.picked_up_at, row.in_transit_at, row.out_for_delivery_at, row.delivered_at) == (
        times["picked_up"],
        times["in_transit"],
        times["out_for_delivery"],
        times["delivered"],
    )
    assert row.voided_at is None and row.exception_at is None
    # The stock left once.
    assert len(movements(sessions, order_id, "ship")) == 1
    assert stock(sessions, "TEA-001", "HZ") == (498, 0)

    # The parcel's way has ended (the order has not: its confirmation window runs).
    late = await report(stack, tracking, "in_transit", T0 + timedelta(days=2))
    assert late == {
        "accepted": False,
        "detail": f"package 1 of order {order_id} has ended its way; report ignored",
    }
    assert (await get_order(stack, order_id))["status"] == "delivered"
    no_child = stack.client.get_workflow_handle(shipment_workflow_id(order_id, 1))
    with pytest.raises(RPCError) as missing:
        await no_child.describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_two_packages_are_delivered_when_both_arrived(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """Tea and mooncakes from Shanghai, two parcels: fulfilling from the first pickup,
    delivered only once the second parcel arrived."""
    order, packages = await paid_and_labelled(
        stack, localstripe_url, lines(TEA_001=2, MOON_003=1), count=2
    )
    order_id = order["id"]
    tea, mooncakes = (p["tracking_number"] for p in sorted(packages, key=lambda p: p["number"]))
    assert tea != mooncakes
    rows = shipment_rows(sessions, order_id)
    assert [(r.package, r.transaction_id, r.tracked_by) for r in rows] == [
        (1, f"{order_id}/1/1", ParcelTracker.SHIPMENT),  # a ShipmentWorkflow each
        (2, f"{order_id}/1/2", ParcelTracker.SHIPMENT),
    ]

    await report(stack, tea, "picked_up", T0)
    await wait_for(stack, order_id, OrderStatus.FULFILLING, f"shipped with sandbox ({tea})")
    assert ledger(sessions, order_id, "ship") == [(f"{order_id}/1/1", 1, "TEA-001", "SH", 2)]
    assert stock(sessions, "MOON-003", "SH") == (80, 1)  # still waiting for its pickup

    await report(stack, tea, "delivered", T0 + timedelta(hours=20))
    await stamped(stack, order_id, 1, "delivered")
    await settle(stack)
    body = await get_order(stack, order_id)
    assert body["status"] == "fulfilling"
    assert [p["shipment_status"] for p in body["packages"]] == ["delivered", "label_bought"]

    await report(stack, mooncakes, "picked_up", T0 + timedelta(hours=2))
    await report(stack, mooncakes, "delivered", T0 + timedelta(hours=30))
    body = await wait_for(stack, order_id, OrderStatus.DELIVERED, "delivered: 2 packages")
    assert [e["status"] for e in body["timeline"]].count("fulfilling") == 1
    assert [p["shipment_status"] for p in body["packages"]] == ["delivered", "delivered"]
    assert ledger(sessions, order_id, "ship") == [
        (f"{order_id}/1/1", 1, "TEA-001", "SH", 2),
        (f"{order_id}/1/2", 2, "MOON-003", "SH", 1),
    ]
    assert stock(sessions, "MOON-003", "SH") == (79, 0)
    await stack.keep_history(order_id, "delivered_by_carrier_in_two_packages")
    await stack.keep_shipment_history(order_id, 2, "picked_up_and_delivered")


async def test_reports_out_of_order_and_repeated_change_each_stage_once(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """A delivery reported without a pickup still hands the parcel over; an event ID seen
    before is ignored, whatever it says now; a shipment that ended answers "not accepted"."""
    order, packages = await paid_and_labelled(
        stack, localstripe_url, lines(TEA_001=2, MOON_003=1), count=2
    )
    order_id = order["id"]
    tea, mooncakes = (p["tracking_number"] for p in sorted(packages, key=lambda p: p["number"]))

    # The tea is reported delivered, never picked up: it left with the carrier all the same.
    delivered = report_body(tea, "delivered", T0 + timedelta(hours=9), event_id="evt-tea-1")
    assert (await post_report(stack, delivered)).json()["accepted"] is True
    body = await wait_for(stack, order_id, OrderStatus.FULFILLING)
    await stamped(stack, order_id, 1, "delivered")
    assert ledger(sessions, order_id, "ship") == [(f"{order_id}/1/1", 1, "TEA-001", "SH", 2)]
    [first, _] = shipment_rows(sessions, order_id)
    assert first.status == "delivered"
    assert first.picked_up_at == first.delivered_at == T0 + timedelta(hours=9)
    assert first.in_transit_at is None and first.out_for_delivery_at is None

    # The mooncakes: in transit (a pickup implied), then the same event ID again, now saying
    # "delivered" — a repeat, so nothing changes; then the same body again.
    in_transit = report_body(mooncakes, "in_transit", T0 + timedelta(hours=3), "evt-moon-1")
    assert (await post_report(stack, in_transit)).json()["accepted"] is True
    await stamped(stack, order_id, 2, "in_transit")
    repeat = report_body(mooncakes, "delivered", T0 + timedelta(hours=4), "evt-moon-1")
    assert (await post_report(stack, repeat)).json()["accepted"] is True
    assert (await post_report(stack, in_transit)).json()["accepted"] is True
    await settle(stack)
    body = await get_order(stack, order_id)
    assert body["status"] == "fulfilling"
    moon = body["packages"][1]
    assert moon["shipment_status"] == "in_transit"
    assert set(moon["stages"]) == {"label_bought", "picked_up", "in_transit"}
    assert when(moon["stages"]["picked_up"]) == T0 + timedelta(hours=3)
    assert len(movements(sessions, order_id, "ship")) == 2

    await report(stack, mooncakes, "delivered", T0 + timedelta(hours=30), "evt-moon-2")
    body = await wait_for(stack, order_id, OrderStatus.DELIVERED, "delivered: 2 packages")
    assert [e["status"] for e in body["timeline"]].count("delivered") == 1

    # The tea's shipment has ended: a late report, or the delivery again, is not accepted.
    late = await report(stack, tea, "in_transit", T0 + timedelta(hours=5))
    assert late["accepted"] is False and "ended" in late["detail"]
    again = await post_report(stack, delivered)
    assert again.status_code == 200 and again.json()["accepted"] is False
    await settle(stack)
    first, second = shipment_rows(sessions, order_id)
    assert (first.status, first.in_transit_at) == ("delivered", None)
    assert second.delivered_at == T0 + timedelta(hours=30)
    assert len(movements(sessions, order_id, "ship")) == 2
    assert (await get_order(stack, order_id))["status"] == "delivered"


async def test_only_signed_reports_about_our_parcels_are_taken(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """A forged, unsigned, stale or malformed report is refused and changes nothing; an
    unknown carrier is 404; a parcel we never sent is answered and ignored."""
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id, tracking = order["id"], package["tracking_number"]
    pickup = report_body(tracking, "picked_up", T0)

    forged = await post_report(stack, pickup, secret="whsec_someone_else")
    assert (forged.status_code, error_code(forged)) == (400, "bad_signature")
    unsigned = await post_report(stack, pickup, secret=None)
    assert (unsigned.status_code, error_code(unsigned)) == (400, "bad_signature")
    stale = await stack.api.post(
        CARRIER_WEBHOOK,
        content=pickup,
        headers={"Carrier-Signature": sign(pickup, CARRIER_SECRET, int(time.time()) - 3600)},
    )
    assert (stale.status_code, error_code(stale)) == (400, "bad_signature")
    # Signed for another body: the signature covers every byte.
    tampered = await stack.api.post(
        CARRIER_WEBHOOK,
        content=report_body(tracking, "delivered", T0),
        headers={"Carrier-Signature": sign(pickup, CARRIER_SECRET)},
    )
    assert (tampered.status_code, error_code(tampered)) == (400, "bad_signature")

    fedex = await post_report(stack, pickup, carrier="fedex")
    assert (fedex.status_code, error_code(fedex)) == (404, "unknown_carrier")

    stranger = await post_report(stack, report_body("SBX0000000000", "picked_up", T0))
    assert stranger.status_code == 200
    assert stranger.json()["accepted"] is False

    malformed = [
        b'{"event_id": "evt-1", "tracking_number": ',  # not JSON
        b'["picked_up"]',
        json.dumps({"event_id": "e", "tracking_number": tracking, "stage": "teleported",
                    "at": T0.isoformat()}).encode(),
        json.dumps({"event_id": "e", "tracking_number": tracking, "stage": "picked_up",
                    "at": "2026-03-02T09:00:00"}).encode(),  # no time zone
        json.dumps({"tracking_number": tracking, "stage": "picked_up",
                    "at": T0.isoformat()}).encode(),
    ]  # fmt: skip
    for body in malformed:
        response = await post_report(stack, body)
        assert response.status_code == 400, (body, response.text)
        assert error_code(response) == "invalid_request"

    await settle(stack)
    body = await get_order(stack, order_id)
    assert body["status"] == "allocated"
    [package] = body["packages"]
    assert package["shipment_status"] == "label_bought"
    assert set(package["stages"]) == {"label_bought"}
    assert movements(sessions, order_id, "ship") == []
    assert stock(sessions, "TEA-001", "HZ") == (500, 2)

    # The genuine report still works afterwards.
    assert (await report(stack, tracking, "picked_up", T0))["accepted"] is True
    await wait_for(stack, order_id, OrderStatus.FULFILLING)


# --- cancelling ------------------------------------------------------------------------------


async def test_cancelling_before_pickup_voids_the_label_refunds_and_releases(
    stack: Stack, localstripe_url: str, sandbox_carrier_url: str, sessions: SessionFactory
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id, tracking = order["id"], package["tracking_number"]

    response = await stack.api.post(f"/orders/{order_id}/cancel", json={"reason": "changed mind"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled"
    assert "refunded" in body["timeline"][-1]["note"]

    async with httpx.AsyncClient(base_url=sandbox_carrier_url) as carrier:
        parcel = (await carrier.get(f"/parcels/{tracking}")).json()
    assert parcel["status"] == "voided"
    [row] = shipment_rows(sessions, order_id)
    assert row.status == "voided" and row.voided_at is not None
    assert row.picked_up_at is None
    [package] = (await get_order(stack, order_id))["packages"]
    assert package["shipment_status"] == "voided" and "picked_up" not in package["stages"]

    assert stock(sessions, "TEA-001", "HZ") == (500, 0)
    assert ledger(sessions, order_id, "release") == [(f"{order_id}/1/1", 1, "TEA-001", "HZ", 2)]
    assert movements(sessions, order_id, "ship") == []
    [refund] = refunds(sessions, order_id)
    assert refund.amount == body["total"] and refund.reason == "changed mind"

    # A pickup reported for the voided label afterwards reaches no running shipment.
    late = await report(stack, tracking, "picked_up", T0)
    assert late["accepted"] is False
    assert movements(sessions, order_id, "ship") == []
    await stack.keep_history(order_id, "parcel_voided_before_pickup")


async def test_cancelling_after_pickup_is_refused_and_the_parcel_travels_on(
    stack: Stack, localstripe_url: str, sandbox_carrier_url: str, sessions: SessionFactory
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id, tracking = order["id"], package["tracking_number"]
    await report(stack, tracking, "picked_up", T0)
    await wait_for(stack, order_id, OrderStatus.FULFILLING)

    response = await stack.api.post(f"/orders/{order_id}/cancel", json={"reason": "too slow"})
    assert response.status_code == 409, response.text
    assert error_code(response) == "action_refused"

    await report(stack, tracking, "delivered", T0 + timedelta(days=1))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)
    assert refunds(sessions, order_id) == []
    assert shipment_rows(sessions, order_id)[0].voided_at is None
    async with httpx.AsyncClient(base_url=sandbox_carrier_url) as carrier:
        parcel = (await carrier.get(f"/parcels/{tracking}")).json()
    assert parcel["status"] == "created"


async def test_a_cancel_that_finds_the_parcel_already_with_the_carrier_is_refused_promptly(
    stack: Stack, localstripe_url: str, sandbox_carrier_url: str, sessions: SessionFactory
) -> None:
    """The carrier took the parcel but its report is still on the way when the customer
    cancels: the label can't be voided, so the shipment asks the carrier what it recorded.
    The cancellation is refused at once and the order is fulfilling, with the pickup at the
    carrier's time; the report arriving later changes nothing."""
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id, tracking = order["id"], package["tracking_number"]
    # The sandbox records the pickup; its webhook goes nowhere in tests: we don't know yet.
    async with httpx.AsyncClient(base_url=sandbox_carrier_url) as carrier:
        taken = await carrier.post(
            f"/parcels/{tracking}/events",
            json={"stage": "picked_up", "event_id": "evt-late", "at": T0.isoformat()},
        )
        assert taken.status_code == 202, taken.text

    cancelling = stack.api.post(f"/orders/{order_id}/cancel", json={"reason": "changed mind"})
    response = await asyncio.wait_for(cancelling, timeout=10)  # not whenever the report comes
    assert response.status_code == 409, response.text
    assert error_code(response) == "action_refused"
    body = await wait_for(stack, order_id, OrderStatus.FULFILLING)
    assert body["timeline"][-1]["note"] == f"shipped with sandbox ({tracking})"
    [row] = shipment_rows(sessions, order_id)
    assert row.picked_up_at == T0 and row.status == "picked_up"
    assert ledger(sessions, order_id, "ship") == [(f"{order_id}/1/1", 1, "TEA-001", "HZ", 2)]
    assert refunds(sessions, order_id) == []

    await report(stack, tracking, "picked_up", T0, event_id="evt-late")  # the late webhook
    await report(stack, tracking, "delivered", T0 + timedelta(days=1))
    await wait_for(stack, order_id, OrderStatus.DELIVERED, "delivered: 1 package")
    assert ledger(sessions, order_id, "ship") == [(f"{order_id}/1/1", 1, "TEA-001", "HZ", 2)]
    assert refunds(sessions, order_id) == []
    await stack.keep_history(order_id, "parcel_void_refused_then_asked_the_carrier")


async def test_a_late_cancellation_refunds_and_releases_the_packages_it_stopped(
    stack: Stack, localstripe_url: str, sandbox_carrier_url: str, sessions: SessionFactory
) -> None:
    """Tea (package 1) is with the carrier when the customer cancels; the mooncakes (package
    2) still wait at the warehouse. The cancellation is refused, the tea travels on, and the
    mooncakes' label is voided, their price refunded and their stock released."""
    order, packages = await paid_and_labelled(
        stack, localstripe_url, lines(TEA_001=2, MOON_003=1), count=2
    )
    order_id = order["id"]
    tea, mooncakes = (p["tracking_number"] for p in sorted(packages, key=lambda p: p["number"]))
    async with httpx.AsyncClient(base_url=sandbox_carrier_url) as carrier:
        taken = await carrier.post(
            f"/parcels/{tea}/events",
            json={"stage": "picked_up", "event_id": "evt-tea", "at": T0.isoformat()},
        )
        assert taken.status_code == 202, taken.text

    cancelling = stack.api.post(f"/orders/{order_id}/cancel", json={"reason": "changed mind"})
    response = await asyncio.wait_for(cancelling, timeout=10)
    assert response.status_code == 409, response.text
    body = await wait_for(stack, order_id, OrderStatus.FULFILLING, "package 2 cancelled")
    assert body["timeline"][-1]["note"] == (
        "package 2 cancelled before pickup: refunded 32.00 USD, stock released"
    )
    [refund] = refunds(sessions, order_id)
    assert (refund.amount, refund.reason) == (3200, "package 2 cancelled before pickup")
    assert stock(sessions, "MOON-003", "SH") == (80, 0)
    assert ledger(sessions, order_id, "release") == [(f"{order_id}/1/2", 2, "MOON-003", "SH", 1)]
    rows = {r.package: r.status for r in shipment_rows(sessions, order_id)}
    assert rows == {1: "picked_up", 2: "voided"}

    await report(stack, tea, "delivered", T0 + timedelta(days=1))
    await wait_for(stack, order_id, OrderStatus.DELIVERED, "delivered: 2 packages")
    assert [r.amount for r in refunds(sessions, order_id)] == [3200]  # once, whatever happens
    await stack.keep_history(order_id, "late_cancel_voided_one_of_two_packages")


# --- the manual path and blocked parcels -----------------------------------------------------


async def test_manual_carrier_events_reach_the_shipments(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """``POST /orders/{id}/carrier-events`` (a person playing the carrier) still works: it is
    passed on to every shipment of the order."""
    order, packages = await paid_and_labelled(
        stack, localstripe_url, lines(TEA_001=2, MOON_003=1), count=2
    )
    order_id = order["id"]
    for kind in ("shipped", "delivered"):
        response = await stack.api.post(f"/orders/{order_id}/carrier-events", json={"kind": kind})
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] is True
    body = await wait_for(stack, order_id, OrderStatus.DELIVERED, "delivered: 2 packages")
    assert [p["shipment_status"] for p in body["packages"]] == ["delivered", "delivered"]

    rows = shipment_rows(sessions, order_id)
    assert [r.status for r in rows] == ["delivered", "delivered"]
    for row in rows:
        assert row.picked_up_at is not None and row.delivered_at is not None
        assert row.picked_up_at <= row.delivered_at
    assert len(movements(sessions, order_id, "ship")) == 2
    assert stock(sessions, "TEA-001", "SH") == (198, 0)


async def test_a_parcel_whose_stock_was_released_is_held_not_shipped(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    """No parcel leaves without its stock: the pickup finds nothing reserved, the order goes
    on hold naming the package, and no stock is deducted."""
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=2))
    order_id = order["id"]
    with transaction(sessions) as session:
        assert StockRepository(session).release(order_id) == 2

    await report(stack, package["tracking_number"], "picked_up", T0)
    body = await wait_for(stack, order_id, OrderStatus.ON_HOLD)
    reason = body["timeline"][-1]["note"]
    assert reason.startswith("package 1 blocked:") and "holds no stock" in reason
    assert movements(sessions, order_id, "ship") == []
    assert stock(sessions, "TEA-001", "HZ") == (500, 0)
    [row] = shipment_rows(sessions, order_id)
    assert row.picked_up_at is None and row.status == "label_bought"
    await stack.keep_history(order_id, "blocked_parcel_held")
