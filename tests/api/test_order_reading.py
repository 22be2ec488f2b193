"""Reading orders and the catalog: one order, the newest-first listing, stock per warehouse."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from store.db import SessionFactory
from store.seed import PRODUCTS, STOCK
from tests.api.support import new_external_id, wait_for_status
from tests.conftest import Stack
from tests.helpers import place_order


def cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def listing(stack: Stack, **params: Any) -> dict[str, Any]:
    response = await stack.api.get("/orders", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def listed_ids(stack: Stack, **params: Any) -> list[str]:
    return [item["id"] for item in (await listing(stack, **params))["items"]]


async def availability(stack: Stack) -> dict[tuple[str, str], int]:
    response = await stack.api.get("/products")
    assert response.status_code == 200, response.text
    return {
        (product["sku"], level["warehouse"]): level["available"]
        for product in response.json()
        for level in product["stock"]
    }


# --- one order -------------------------------------------------------------------------------


async def test_an_unknown_order_is_a_json_404(stack: Stack) -> None:
    response = await stack.api.get(f"/orders/web-{new_external_id()}")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "order_not_found"
    assert error["message"]


async def test_a_new_order_is_read_live_from_its_workflow_with_its_timeline(
    stack: Stack,
) -> None:
    placed = await place_order(stack.api)
    response = await stack.api.get(f"/orders/{placed['id']}")

    assert response.status_code == 200, response.text
    order = response.json()
    assert order["source"] == "live"
    assert order["id"] == placed["id"]
    assert order["status"] == "pending_payment"
    assert order["total"] == 3600
    assert [(e["status"], e["note"]) for e in order["timeline"]] == [
        ("pending_payment", "order received")
    ]
    assert order["timeline"][0]["at"].endswith(("Z", "+00:00"))
    assert order["payment"]["payment_intent_id"] == placed["payment"]["payment_intent_id"]
    assert [(li["sku"], li["quantity"]) for li in order["lines"]] == [("TEA-001", 2)]


# --- the listing -----------------------------------------------------------------------------


async def test_orders_are_listed_newest_first(stack: Stack) -> None:
    created = [(await place_order(stack.api))["id"] for _ in range(3)]
    body = await listing(stack)
    assert [item["id"] for item in body["items"]] == list(reversed(created))
    assert body["next_cursor"] is None
    assert all(item["status"] == "pending_payment" for item in body["items"])


async def test_the_listing_filters_by_status_channel_and_customer(stack: Stack) -> None:
    c1 = {"id": "c-1", "email": "one@example.com", "name": "One"}
    c2 = {"id": "c-2", "email": "two@example.com", "name": "Two"}
    web_c1 = (await place_order(stack.api, customer=c1))["id"]
    app_c2 = (await place_order(stack.api, customer=c2, channel="app"))["id"]
    web_c2 = (await place_order(stack.api, customer=c2))["id"]
    cancelled = await stack.api.post(f"/orders/{web_c2}/cancel", json={"reason": "mistake"})
    assert cancelled.status_code == 200, cancelled.text
    await wait_for_status(stack, web_c2, "cancelled")
    for _ in range(100):  # the read model follows the workflow's own state
        if await listed_ids(stack, status="cancelled"):
            break
        await stack.env.sleep(timedelta(milliseconds=20))

    assert await listed_ids(stack, status="cancelled") == [web_c2]
    assert await listed_ids(stack, status="pending_payment") == [app_c2, web_c1]
    assert await listed_ids(stack, channel="app") == [app_c2]
    assert await listed_ids(stack, channel="web") == [web_c2, web_c1]
    assert await listed_ids(stack, customer_id="c-2") == [web_c2, app_c2]
    assert await listed_ids(stack, customer_id="c-2", status="pending_payment") == [app_c2]
    assert await listed_ids(stack, customer_id="c-nobody") == []


async def test_an_unknown_status_filter_is_refused(stack: Stack) -> None:
    response = await stack.api.get("/orders", params={"status": "lost"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_pages_follow_the_cursor_without_duplicates_or_gaps(stack: Stack) -> None:
    created = [(await place_order(stack.api))["id"] for _ in range(5)]

    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = await listing(stack, **params)
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [order_id for page in pages for order_id in page] == list(reversed(created))


async def test_an_order_created_between_pages_does_not_shift_the_next_page(stack: Stack) -> None:
    created = [(await place_order(stack.api))["id"] for _ in range(3)]
    first = await listing(stack, limit=2)
    newer = (await place_order(stack.api))["id"]
    second = await listing(stack, limit=2, cursor=first["next_cursor"])
    assert [i["id"] for i in first["items"]] == [created[2], created[1]]
    assert [i["id"] for i in second["items"]] == [created[0]]
    assert newer not in [i["id"] for i in second["items"]]


async def test_a_filtered_listing_pages_within_the_filter(stack: Stack) -> None:
    app = [(await place_order(stack.api, channel="app"))["id"] for _ in range(3)]
    await place_order(stack.api)
    first = await listing(stack, channel="app", limit=2)
    second = await listing(stack, channel="app", limit=2, cursor=first["next_cursor"])
    assert [i["id"] for i in first["items"] + second["items"]] == list(reversed(app))
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        cursor_of(b"not json"),
        cursor_of(b"{}"),
        cursor_of(b'["yesterday", "web-1"]'),
        pytest.param(
            cursor_of(b"[1, 2]"),
            id="numbers",
        ),
        pytest.param(
            cursor_of(b"null"),
            id="null",
        ),
        pytest.param(
            cursor_of(b'["2026-01-01T00:00:00", "web-1"]'),
            id="naive-time",
        ),
    ],
)
async def test_a_cursor_the_api_never_gave_is_a_client_error(stack: Stack, cursor: str) -> None:
    response = await stack.api.get("/orders", params={"cursor": cursor})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == "invalid_request"


async def test_a_limit_out_of_range_is_refused(stack: Stack) -> None:
    for limit in (0, -1, 201, "ten"):
        response = await stack.api.get("/orders", params={"limit": limit})
        assert response.status_code == 422, (limit, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    assert (await stack.api.get("/orders", params={"limit": 200})).status_code == 200


# --- the catalog -----------------------------------------------------------------------------


async def test_products_list_the_catalog_with_stock_per_warehouse(stack: Stack) -> None:
    response = await stack.api.get("/products")
    assert response.status_code == 200, response.text
    products = {p["sku"]: p for p in response.json()}
    assert list(products) == sorted(p.sku for p in PRODUCTS)
    for seeded in PRODUCTS:
        listed = products[seeded.sku]
        assert (listed["price"], listed["currency"], listed["name"]) == (
            seeded.price,
            seeded.currency,
            seeded.name,
        )
        assert (listed["cold_chain"], listed["fragile"]) == (seeded.cold_chain, seeded.fragile)
    assert products["TEA-001"]["price"] == 1800
    assert products["MOON-003"]["cold_chain"] is True
    assert await availability(stack) == STOCK


async def test_availability_drops_when_an_order_reserves_and_comes_back_when_it_is_cancelled(
    stack: Stack, sessions: SessionFactory
) -> None:
    order = await place_order(
        stack.api, lines=[{"sku": "TEA-001", "quantity": 2}, {"sku": "POT-004", "quantity": 10}]
    )
    after = await availability(stack)
    assert after[("TEA-001", "HZ")] == 498
    assert after[("TEA-001", "SH")] == 200
    assert after[("POT-004", "HZ")] == 0
    assert after[("CUP-002", "HZ")] == 120

    response = await stack.api.post(f"/orders/{order['id']}/cancel", json={"reason": "oops"})
    assert response.status_code == 200, response.text
    assert await availability(stack) == STOCK


async def test_carrier_events_for_an_unknown_order_are_404_and_well_formed_ones_202(
    stack: Stack,
) -> None:
    unknown = await stack.api.post("/orders/web-NOPE/carrier-events", json={"kind": "shipped"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "order_not_found"
    order = await place_order(stack.api)
    bad = await stack.api.post(f"/orders/{order['id']}/carrier-events", json={"kind": "lost"})
    assert bad.status_code == 422
    good = await stack.api.post(f"/orders/{order['id']}/carrier-events", json={"kind": "shipped"})
    assert good.status_code == 202 and good.json()["accepted"] is True
