"""Changes racing the order's own progress, on the real dev server: an address change
racing the label purchase ends with one live label, for the new address; a return racing
the delivery report is opened (201) or refused as not delivered yet (409), never half."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from domain.access import Role
from domain.order import OrderStatus
from store.db import SessionFactory
from tests.api.test_address_changes import NINGBO, at_carrier
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    T0,
    labelled,
    lines,
    paid_and_labelled,
    pay_and_notify,
    place,
    report,
    wait_for,
)

pytestmark = pytest.mark.integration

ROUNDS = 3


async def test_an_address_change_racing_the_label_purchase_leaves_one_label_for_it(
    dev_stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    for _ in range(ROUNDS):
        order = await place(dev_stack, lines(TEA_001=1))
        moved, _ = await asyncio.gather(
            dev_stack.api.post(
                f"/orders/{order['id']}/address",
                json={"address": NINGBO, "reason": "moved house"},
                headers=dev_stack.as_role(Role.SUPPORT, "ana"),
            ),
            pay_and_notify(dev_stack, localstripe_url, order),
        )

        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == "applied", moved.text
        [package] = await labelled(dev_stack, order["id"])
        live = at_carrier(dev_stack, package["tracking_number"])
        assert (live["status"], live["parcel"]["destination_city"]) == ("created", "Ningbo")


async def test_a_return_racing_the_delivery_report(
    dev_stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    for _ in range(ROUNDS):
        order, [package] = await paid_and_labelled(dev_stack, localstripe_url, lines(TEA_001=1))
        await report(dev_stack, package["tracking_number"], "picked_up", T0)
        await wait_for(dev_stack, order["id"], OrderStatus.FULFILLING)

        opened, _ = await asyncio.gather(
            dev_stack.api.post(
                f"/orders/{order['id']}/returns",
                json={"lines": [{"sku": "TEA-001", "quantity": 1}], "reason": "too late"},
                headers=dev_stack.as_role(Role.SUPPORT, "ana"),
            ),
            report(dev_stack, package["tracking_number"], "delivered", T0 + timedelta(days=1)),
        )

        assert opened.status_code in (201, 409), opened.text
        rows: list[dict[str, Any]] = (
            await dev_stack.api.get(f"/orders/{order['id']}/returns")
        ).json()
        if opened.status_code == 201:
            assert [row["rma"] for row in rows] == [opened.json()["rma"]]
        else:
            assert rows == [] and "delivered" in opened.json()["error"]["message"]
