"""Support refunds up to a limit on its own; above it, finance decides."""

from __future__ import annotations

import pytest

from config.settings import Settings
from domain.access import Role
from domain.order import OrderStatus
from tests.api.support import wait_for_status
from tests.conftest import Stack, settings_for
from tests.workflows.test_order_workflow import paid_order


@pytest.fixture
def settings(database_url: str, localstripe_url: str, sandbox_carrier_url: str) -> Settings:
    # The test order is 36.00: above support's limit here.
    return settings_for(
        database_url,
        localstripe_url,
        carrier_api_base=sandbox_carrier_url,
        support_refund_limit=3000,
    )


async def test_support_cannot_refund_above_its_limit_finance_can(
    stack: Stack, localstripe_url: str
) -> None:
    order = await paid_order(stack, localstripe_url)
    path = f"/orders/{order['id']}/cancel"
    support = await stack.api.post(
        path, json={"reason": "goodwill"}, headers=stack.as_role(Role.SUPPORT, "ana")
    )
    assert support.status_code == 403, support.text
    assert "finance cancels it" in support.json()["error"]["message"]
    assert (await wait_for_status(stack, order["id"], OrderStatus.ALLOCATED))["status"]

    finance = await stack.api.post(
        path, json={"reason": "goodwill"}, headers=stack.as_role(Role.FINANCE, "bo")
    )
    assert finance.status_code == 200, finance.text
    done = await wait_for_status(stack, order["id"], OrderStatus.CANCELLED)
    assert done["timeline"][-1]["note"].endswith("(by finance:bo)")


async def test_support_cancels_an_unpaid_order_whatever_its_total(stack: Stack) -> None:
    from tests.helpers import place_order

    order = await place_order(stack.api)
    cancelled = await stack.api.post(
        f"/orders/{order['id']}/cancel",
        json={"reason": "asked by phone"},
        headers=stack.as_role(Role.SUPPORT, "ana"),
    )
    assert cancelled.status_code == 200, cancelled.text
