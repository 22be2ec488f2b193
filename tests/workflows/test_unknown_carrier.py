"""A carrier the worker doesn't know is a configuration error: no retry can fix it, so the
parcel is blocked at once and the order waits on hold for a person, with the reason."""

from __future__ import annotations

import pytest

from domain.order import OrderStatus
from integrations.carriers import Carrier
from store.db import SessionFactory
from tests.conftest import Stack
from tests.workflows.shipping_support import lines, pay_and_notify, place, stock, wait_for


@pytest.fixture
def carriers() -> dict[str, Carrier]:
    return {}  # the orders' packages still name "sandbox"


async def test_a_parcel_for_an_unknown_carrier_is_blocked_at_once_and_the_order_held(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order = await place(stack, lines(TEA_001=2))
    await pay_and_notify(stack, localstripe_url, order)

    body = await wait_for(stack, order["id"], OrderStatus.ON_HOLD)

    reason = body["timeline"][-1]["note"]
    assert reason == ("package 1 blocked: no carrier named sandbox is configured (known: none)"), (
        reason
    )
    assert body["packages"][0].get("tracking_number") is None
    assert stock(sessions, "TEA-001", "HZ")[1] == 2  # still reserved: support decides
    cancelled = await stack.api.post(f"/orders/{order['id']}/cancel", json={"reason": "no carrier"})
    assert cancelled.status_code == 200, cancelled.text
    assert stock(sessions, "TEA-001", "HZ")[1] == 0
