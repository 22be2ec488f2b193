"""Intake limits: a rate per token holder, and a cap on the units a customer holds unpaid."""

from __future__ import annotations

import pytest

from api.rate_limit import RateLimiter
from config.settings import Settings
from domain.access import Role
from domain.errors import TooManyRequests
from store.db import SessionFactory
from tests.api.support import order_count
from tests.conftest import Stack, settings_for
from tests.helpers import order_body


@pytest.fixture
def settings(database_url: str, localstripe_url: str, sandbox_carrier_url: str) -> Settings:
    return settings_for(
        database_url,
        localstripe_url,
        carrier_api_base=sandbox_carrier_url,
        # Slow enough that no token comes back while the test runs, however
        # slow the machine: the refill itself is tested with a clock below.
        intake_rate_per_second=0.001,
        intake_burst=4,
        unpaid_units_per_customer=6,
    )


async def test_a_token_holder_over_its_rate_is_answered_429_and_nothing_is_created(
    stack: Stack, sessions: SessionFactory
) -> None:
    shop = stack.as_role(Role.API_CLIENT, subject="shop-1", channel="web")
    answers = []
    for n in range(5):
        customer = {"id": f"c-rate-{n}", "email": "r@example.com", "name": "R"}
        answers.append(
            await stack.api.post("/orders", json=order_body(customer=customer), headers=shop)
        )
    assert [a.status_code for a in answers] == [201, 201, 201, 201, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert int(refused.headers["Retry-After"]) >= 1
    assert order_count(sessions) == 4

    # Another holder has a bucket of its own.
    other = stack.as_role(Role.API_CLIENT, subject="shop-2", channel="web")
    assert (await stack.api.post("/orders", json=order_body(), headers=other)).status_code == 201


async def test_a_customer_holds_only_so_many_units_unpaid(
    stack: Stack, sessions: SessionFactory
) -> None:
    first = await stack.api.post(
        "/orders", json=order_body(lines=[{"sku": "TEA-001", "quantity": 4}])
    )
    assert first.status_code == 201, first.text
    # The same SKU on ten lines is ten units, as much as one line of ten.
    hoard = order_body(lines=[{"sku": "TEA-001", "quantity": 1}] * 10)
    refused = await stack.api.post("/orders", json=hoard)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "unpaid_limit"
    small = await stack.api.post(
        "/orders", json=order_body(lines=[{"sku": "TEA-001", "quantity": 3}])
    )
    assert small.status_code == 409
    assert order_count(sessions) == 1

    # Cancelling the unpaid order frees the customer's room.
    cancelled = await stack.api.post(f"/orders/{first.json()['id']}/cancel", json={"reason": "x"})
    assert cancelled.status_code == 200, cancelled.text
    again = await stack.api.post(
        "/orders", json=order_body(lines=[{"sku": "TEA-001", "quantity": 6}])
    )
    assert again.status_code == 201, again.text


def test_the_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=2, clock=lambda: now[0])
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("a")
    assert refused.value.retry_after_seconds == 1
    now[0] = 0.5  # one request's worth back
    limiter.take("a")
    with pytest.raises(TooManyRequests):
        limiter.take("a")
    now[0] = 100.0  # refilled, never above the burst
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(TooManyRequests):
        limiter.take("a")
