"""Address changes through the API, with the real worker, database and sandbox carrier:
before labelling the packages go to the new address; a bought label is voided and bought
again; a parcel the carrier has is rerouted, or, when it can't be, support gets an exception
with a deadline. Every refusal a 409 that changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from domain.access import Role
from domain.order import OrderStatus
from store.db import SessionFactory, transaction
from store.models import AddressChangeRow
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    T0,
    alerts,
    eventually,
    get_order,
    labelled,
    lines,
    paid_and_labelled,
    pay_and_notify,
    place,
    report,
    wait_for,
)

S = OrderStatus
NINGBO = {
    "name": "Li Lei",
    "phone": "+86 574 1234 5678",
    "line1": "88 Zhongshan Rd",
    "city": "Ningbo",
    "postal_code": "315000",
    "country": "CN",
}


async def move(stack: Stack, order_id: str, role: Role = Role.CUSTOMER) -> httpx.Response:
    return await stack.api.post(
        f"/orders/{order_id}/address",
        json={"address": NINGBO, "reason": "moved house"},
        headers=stack.as_role(role, "c-42"),
    )


def at_carrier(stack: Stack, tracking: str) -> dict[str, Any]:
    answer = httpx.get(f"{stack.settings.carrier_api_base}/parcels/{tracking}", timeout=5)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def carrier_reports(stack: Stack, tracking: str, stage: str, at: Any) -> None:
    """The stage in the carrier's own books (what a reroute asks about) and its report to us."""
    answer = httpx.post(
        f"{stack.settings.carrier_api_base}/parcels/{tracking}/events",
        json={"stage": stage, "at": at.isoformat()},
        timeout=5,
    )
    assert answer.status_code == 202, answer.text
    await report(stack, tracking, stage, at)


def changes(sessions: SessionFactory, order_id: str) -> list[tuple[str, str | None]]:
    with transaction(sessions) as session:
        rows = session.scalars(
            select(AddressChangeRow).where(AddressChangeRow.order_id == order_id)
        )
        return [(row.status, row.address["city"]) for row in rows]


async def test_before_labelling_the_packages_are_labelled_for_the_new_address(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order = await place(stack, lines(TEA_001=1))

    answer = await move(stack, order["id"])

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "applied"
    assert "nothing labelled yet" in answer.json()["note"]
    await pay_and_notify(stack, localstripe_url, order)
    [package] = await labelled(stack, order["id"])
    assert at_carrier(stack, package["tracking_number"])["parcel"]["destination_city"] == "Ningbo"
    assert changes(sessions, order["id"]) == [("applied", "Ningbo")]


async def test_a_label_bought_for_the_old_address_is_voided_and_bought_again(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    old = package["tracking_number"]

    answer = await move(stack, order["id"])

    assert answer.status_code == 200, answer.text
    [rerouted] = answer.json()["packages"]
    assert rerouted["how"] == "relabelled" and rerouted["tracking_number"] != old
    assert at_carrier(stack, old)["status"] == "voided"
    new = at_carrier(stack, rerouted["tracking_number"])
    assert new["parcel"]["destination_city"] == "Ningbo"
    # The parcel travels under its new label to the end.
    await report(stack, rerouted["tracking_number"], "picked_up", T0)
    await report(stack, rerouted["tracking_number"], "delivered", T0 + timedelta(days=1))
    delivered = await wait_for(stack, order["id"], S.DELIVERED)
    assert rerouted["tracking_number"] in delivered["timeline"][-2]["note"]
    await stack.keep_history(order["id"], "address_changed_after_labelling_then_delivered")


async def test_a_parcel_in_transit_is_rerouted_by_the_carrier(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    tracking = package["tracking_number"]
    await carrier_reports(stack, tracking, "picked_up", T0)
    await wait_for(stack, order["id"], S.FULFILLING)

    answer = await move(stack, order["id"], role=Role.SUPPORT)

    assert answer.status_code == 200, answer.text
    assert answer.json()["packages"][0]["how"] == "intercepted", answer.text
    assert at_carrier(stack, tracking)["parcel"]["destination_city"] == "Ningbo"


async def test_a_parcel_out_for_delivery_is_an_exception_for_support_that_goes_red_when_due(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    tracking = package["tracking_number"]
    await carrier_reports(stack, tracking, "picked_up", T0)
    await carrier_reports(stack, tracking, "out_for_delivery", T0 + timedelta(hours=5))
    await wait_for(stack, order["id"], S.FULFILLING)

    answer = await move(stack, order["id"])

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "needs_person" and body["decide_by"]
    assert body["packages"][0]["how"] == "too_late"
    [alert] = await alerts(stack, "address")
    assert (alert["role"], alert["level"]) == ("support", "yellow")
    assert changes(sessions, order["id"]) == [("needs_person", "Ningbo")]

    await stack.env.sleep(timedelta(hours=3))

    async def red() -> bool | None:
        [alert] = await alerts(stack, "address")
        return True if alert["level"] == "red" else None

    await eventually(stack, red, "the exception to go red")
    await stack.keep_history(order["id"], "address_change_too_late_then_overdue")


async def test_nothing_left_to_send_is_refused_and_the_address_stays(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    await report(stack, package["tracking_number"], "picked_up", T0)
    await report(stack, package["tracking_number"], "delivered", T0 + timedelta(days=1))
    await wait_for(stack, order["id"], S.DELIVERED)

    answer = await move(stack, order["id"])
    warehouse = await move(stack, order["id"], role=Role.WAREHOUSE)

    assert answer.status_code == 409, answer.text
    assert "every parcel has arrived" in answer.json()["error"]["message"]
    assert warehouse.status_code == 403
    assert changes(sessions, order["id"]) == [("refused", "Ningbo")]
    assert (await get_order(stack, order["id"]))["shipping_address"]["city"] != "Ningbo"
