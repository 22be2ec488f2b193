"""POST /orders through the real stack: pricing, validation, idempotency, stock refusal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from store.db import SessionFactory, transaction
from store.models import Customer, Order, Payment, Product, StockLevel
from store.repositories import OrderRepository
from tests.api.support import (
    count_rows,
    intents_for_order,
    new_external_id,
    order_count,
    workflow_exists,
)
from tests.conftest import Stack
from tests.helpers import order_body


def stock_snapshot(sessions: SessionFactory) -> dict[tuple[str, str], tuple[int, int]]:
    with transaction(sessions) as session:
        return {
            (r.sku, r.warehouse): (r.on_hand, r.reserved)
            for r in session.scalars(select(StockLevel))
        }


async def assert_nothing_written(stack: Stack, sessions: SessionFactory, order_id: str) -> None:
    assert order_count(sessions) == 0
    assert count_rows(sessions, Payment) == 0
    assert count_rows(sessions, Customer) == 0
    assert not await workflow_exists(stack, order_id)


def assert_error_body(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


# --- a valid order ---------------------------------------------------------------------------


async def test_order_is_priced_from_the_catalog_and_answers_with_the_payment_to_complete(
    stack: Stack, sessions: SessionFactory, payments
) -> None:
    external_id = new_external_id()
    body = order_body(
        external_id,
        lines=[{"sku": "TEA-001", "quantity": 2}, {"sku": "CUP-002", "quantity": 1}],
    )
    response = await stack.api.post("/orders", json=body)

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["id"] == f"web-{external_id}"
    assert response.headers["Location"] == f"/orders/web-{external_id}"
    assert "Idempotent-Replayed" not in response.headers
    assert order["status"] == "pending_payment"
    assert order["currency"] == "usd"
    assert order["total"] == 2 * 1800 + 2400
    lines = {
        (li["sku"], li["quantity"], li["unit_price"], li["line_total"]) for li in order["lines"]
    }
    assert lines == {("TEA-001", 2, 1800, 3600), ("CUP-002", 1, 2400, 2400)}
    payment = order["payment"]
    assert payment["provider"] == "stripe"
    assert payment["payment_intent_id"].startswith("pi_")
    assert payment["client_secret"]
    assert payment["amount"] == 6000

    # The provider was asked for exactly what the catalog says, and the row points at it.
    intent = payments.retrieve_payment(payment["payment_intent_id"])
    assert (intent.amount, intent.currency) == (6000, "usd")
    with transaction(sessions) as session:
        stored = session.get(Order, order["id"])
        assert stored is not None and stored.total == 6000
        row = session.scalar(select(Payment).where(Payment.order_id == order["id"]))
        assert row is not None and row.provider_payment_id == payment["payment_intent_id"]
    assert await workflow_exists(stack, order["id"])


async def test_the_same_sku_on_two_lines_is_charged_as_one_line(stack: Stack) -> None:
    response = await stack.api.post(
        "/orders",
        json=order_body(
            lines=[{"sku": "TEA-001", "quantity": 1}, {"sku": "TEA-001", "quantity": 2}]
        ),
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["total"] == 3 * 1800
    assert [(li["sku"], li["quantity"]) for li in order["lines"]] == [("TEA-001", 3)]


# --- refused requests ------------------------------------------------------------------------


def _set_line(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        body["lines"] = [{"sku": "TEA-001", "quantity": 2, **fields}]

    return change


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target = body
        for part in parents:
            target = target[part]
        target[leaf] = value

    return change


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        target = body
        for part in parents:
            target = target[part]
        del target[leaf]

    return change


INVALID = {
    "unknown sku": (_set_line(sku="NOPE-999"), "unknown_sku"),
    "zero quantity": (_set_line(quantity=0), "validation_error"),
    "negative quantity": (_set_line(quantity=-3), "validation_error"),
    "fractional quantity": (_set_line(quantity=1.5), "validation_error"),
    "client price on a line": (_set_line(price=1), "validation_error"),
    "client total": (_set("total", 1), "validation_error"),
    "no lines": (_set("lines", []), "validation_error"),
    "lowercase country": (_set("shipping_address.country", "cn"), "validation_error"),
    "three-letter country": (_set("shipping_address.country", "CHN"), "validation_error"),
    "missing city": (_drop("shipping_address.city"), "validation_error"),
    "blank city": (_set("shipping_address.city", "   "), "validation_error"),
    "bad email": (_set("customer.email", "li.na-at-example.com"), "validation_error"),
    "missing customer": (_drop("customer"), "validation_error"),
    "bad channel": (_set("channel", "Web Shop"), "validation_error"),
}


@pytest.mark.parametrize("case", list(INVALID))
async def test_an_invalid_order_is_refused_and_nothing_is_written(
    stack: Stack, sessions: SessionFactory, case: str
) -> None:
    change, code = INVALID[case]
    external_id = new_external_id()
    body = order_body(external_id)
    change(body)
    stock_before = stock_snapshot(sessions)

    response = await stack.api.post("/orders", json=body)

    assert response.status_code == 422, response.text
    assert_error_body(response.json(), code)
    await assert_nothing_written(stack, sessions, f"web-{external_id}")
    assert stock_snapshot(sessions) == stock_before


async def test_the_refusal_names_the_field_at_fault(stack: Stack) -> None:
    body = order_body()
    body["shipping_address"]["country"] = "cn"
    response = await stack.api.post("/orders", json=body)
    assert response.status_code == 422
    assert "shipping_address.country" in response.json()["error"]["message"]

    response = await stack.api.post(
        "/orders", json=order_body(lines=[{"sku": "NOPE-9", "quantity": 1}])
    )
    assert "NOPE-9" in response.json()["error"]["message"]


async def test_malformed_json_is_refused_and_nothing_is_written(
    stack: Stack, sessions: SessionFactory
) -> None:
    for payload in (b'{"channel": "web", "lines": [', b"not json at all", b"", b"[]", b"null"):
        response = await stack.api.post(
            "/orders", content=payload, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (payload, response.text)
        assert_error_body(response.json(), "validation_error")
    assert order_count(sessions) == 0


async def test_a_truncated_valid_order_is_refused_and_nothing_is_written(
    stack: Stack, sessions: SessionFactory
) -> None:
    external_id = new_external_id()
    payload = json.dumps(order_body(external_id)).encode()[:-3]
    response = await stack.api.post(
        "/orders", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert_error_body(response.json(), "validation_error")
    await assert_nothing_written(stack, sessions, f"web-{external_id}")


async def test_more_than_the_total_stock_is_refused_as_out_of_stock(
    stack: Stack, sessions: SessionFactory
) -> None:
    external_id = new_external_id()
    stock_before = stock_snapshot(sessions)
    response = await stack.api.post(
        "/orders",
        json=order_body(
            external_id,
            lines=[{"sku": "TEA-001", "quantity": 1}, {"sku": "POT-004", "quantity": 11}],
        ),
    )
    assert response.status_code == 409, response.text
    assert_error_body(response.json(), "out_of_stock")
    assert "POT-004" in response.json()["error"]["message"]
    await assert_nothing_written(stack, sessions, f"web-{external_id}")
    assert stock_snapshot(sessions) == stock_before


async def test_exactly_the_total_stock_is_accepted(stack: Stack, sessions: SessionFactory) -> None:
    response = await stack.api.post(
        "/orders", json=order_body(lines=[{"sku": "POT-004", "quantity": 10}])
    )
    assert response.status_code == 201, response.text
    assert stock_snapshot(sessions)[("POT-004", "HZ")] == (10, 10)
    again = await stack.api.post(
        "/orders", json=order_body(lines=[{"sku": "POT-004", "quantity": 1}])
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "out_of_stock"
    assert order_count(sessions) == 1


# --- idempotency -----------------------------------------------------------------------------


def keyed_body(**changes: Any) -> dict[str, Any]:
    body = order_body(**changes)
    del body["external_id"]
    return body


async def test_the_same_idempotency_key_returns_the_same_order_and_payment(
    stack: Stack, sessions: SessionFactory, localstripe_url: str
) -> None:
    headers = {"Idempotency-Key": new_external_id()}
    body = keyed_body()
    first = await stack.api.post("/orders", json=body, headers=headers)
    second = await stack.api.post("/orders", json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Location"] == first.headers["Location"]
    a, b = first.json(), second.json()
    assert a["id"] == b["id"] and a["id"].startswith("web-k")
    assert a["payment"]["payment_intent_id"] == b["payment"]["payment_intent_id"]
    assert a["payment"]["client_secret"] == b["payment"]["client_secret"]
    assert order_count(sessions) == 1
    assert count_rows(sessions, Payment, order_id=a["id"]) == 1
    assert intents_for_order(localstripe_url, a["id"]) == [a["payment"]["payment_intent_id"]]


async def test_without_a_key_or_channel_number_two_posts_are_two_orders(
    stack: Stack, sessions: SessionFactory
) -> None:
    body = keyed_body()
    first = await stack.api.post("/orders", json=body)
    second = await stack.api.post("/orders", json=body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert order_count(sessions) == 2


async def test_the_same_channel_order_number_returns_the_same_order_and_payment(
    stack: Stack, sessions: SessionFactory, localstripe_url: str
) -> None:
    body = order_body(new_external_id())
    first = await stack.api.post("/orders", json=body)
    # A marketplace re-pushes the order, even under a different key of its own.
    second = await stack.api.post("/orders", json=body, headers={"Idempotency-Key": "retry-2"})

    assert first.status_code == 201, first.text
    assert second.status_code == 200, second.text
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["id"] == second.json()["id"]
    intent = first.json()["payment"]["payment_intent_id"]
    assert second.json()["payment"]["payment_intent_id"] == intent
    assert order_count(sessions) == 1
    assert intents_for_order(localstripe_url, first.json()["id"]) == [intent]


async def test_the_same_channel_number_in_another_channel_is_another_order(
    stack: Stack, sessions: SessionFactory
) -> None:
    external_id = new_external_id()
    web = await stack.api.post("/orders", json=order_body(external_id))
    app = await stack.api.post("/orders", json=order_body(external_id, channel="app"))
    assert (web.status_code, app.status_code) == (201, 201)
    assert {web.json()["id"], app.json()["id"]} == {f"web-{external_id}", f"app-{external_id}"}
    assert order_count(sessions) == 2


@pytest.mark.parametrize(
    "change",
    [
        {"lines": [{"sku": "TEA-001", "quantity": 3}]},
        {"customer": {"id": "c-43", "email": "other@example.com", "name": "Other"}},
        {"external_id": "X-different"},
    ],
    ids=["other quantity", "other customer", "other channel number"],
)
async def test_the_same_key_with_a_different_body_is_a_conflict(
    stack: Stack, sessions: SessionFactory, change: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": new_external_id()}
    original = order_body(new_external_id())
    first = await stack.api.post("/orders", json=original, headers=headers)
    assert first.status_code == 201, first.text

    second = await stack.api.post("/orders", json={**original, **change}, headers=headers)

    assert second.status_code == 409, second.text
    assert_error_body(second.json(), "idempotency_conflict")
    assert order_count(sessions) == 1
    with transaction(sessions) as session:
        stored = session.get(Order, first.json()["id"])
        assert stored is not None and stored.total == 2 * 1800
        assert [(line.sku, line.quantity) for line in stored.lines] == [("TEA-001", 2)]


async def test_the_same_channel_number_with_a_different_body_is_a_conflict(
    stack: Stack, sessions: SessionFactory
) -> None:
    external_id = new_external_id()
    first = await stack.api.post("/orders", json=order_body(external_id))
    second = await stack.api.post(
        "/orders", json=order_body(external_id, lines=[{"sku": "CUP-002", "quantity": 1}])
    )
    assert first.status_code == 201
    assert second.status_code == 409, second.text
    assert_error_body(second.json(), "idempotency_conflict")
    assert order_count(sessions) == 1


async def test_ten_concurrent_identical_posts_make_one_order_and_one_payment(
    stack: Stack, sessions: SessionFactory, localstripe_url: str
) -> None:
    headers = {"Idempotency-Key": new_external_id()}
    body = keyed_body()
    responses = await asyncio.gather(
        *(stack.api.post("/orders", json=body, headers=headers) for _ in range(10))
    )

    assert sorted(r.status_code for r in responses) == [200] * 9 + [201], [
        r.text for r in responses
    ]
    ids = {r.json()["id"] for r in responses}
    intents = {r.json()["payment"]["payment_intent_id"] for r in responses}
    assert len(ids) == 1 and len(intents) == 1
    (order_id,) = ids
    assert order_count(sessions) == 1
    assert count_rows(sessions, Payment, order_id=order_id) == 1
    assert intents_for_order(localstripe_url, order_id) == list(intents)
    assert stock_snapshot(sessions)[("TEA-001", "HZ")] == (500, 2)


async def test_concurrent_orders_from_a_new_customer_are_all_accepted(
    stack: Stack, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shopper's first orders arrive together (two tabs, a marketplace batch)."""
    together = 6
    # Let every request look the customer up before any of them writes: the race, every time.
    barrier = threading.Barrier(together, timeout=3)
    real_add = OrderRepository.add_customer_once

    def add_customer_in_step(self: OrderRepository, customer_id: str, **details: str) -> None:
        real_add(self, customer_id, **details)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    monkeypatch.setattr(OrderRepository, "add_customer_once", add_customer_in_step)
    customer = {"id": "c-new", "email": "new@example.com", "name": "New Customer"}
    responses = await asyncio.gather(
        *(stack.api.post("/orders", json=order_body(customer=customer)) for _ in range(together))
    )
    assert [r.status_code for r in responses] == [201] * together, [r.text for r in responses]
    assert order_count(sessions) == together
    assert count_rows(sessions, Customer, id="c-new") == 1


async def test_an_empty_idempotency_key_does_not_break_later_orders(
    stack: Stack, sessions: SessionFactory
) -> None:
    headers = {"Idempotency-Key": ""}
    first = await stack.api.post("/orders", json=order_body(), headers=headers)
    second = await stack.api.post("/orders", json=order_body(), headers=headers)
    # Either refuse the blank key, or treat it as no key: never a server error.
    assert first.status_code in (201, 422), first.text
    assert second.status_code == first.status_code, second.text


async def test_a_replay_that_races_the_first_commit_answers_with_the_same_order(
    stack: Stack, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry looks the order up by ID just before the first request commits, then by key after.

    Concurrent identical POSTs do this by chance; here the first lookup is made to miss.
    """
    headers = {"Idempotency-Key": new_external_id()}
    body = keyed_body()
    first = await stack.api.post("/orders", json=body, headers=headers)
    assert first.status_code == 201, first.text

    real_get = OrderRepository.get
    misses = [True]

    def get_before_the_commit_landed(self: OrderRepository, order_id: str) -> Order | None:
        if misses:
            misses.pop()
            return None
        return real_get(self, order_id)

    monkeypatch.setattr(OrderRepository, "get", get_before_the_commit_landed)
    second = await stack.api.post("/orders", json=body, headers=headers)

    assert not misses
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["lines"] == first.json()["lines"]
    intent = first.json()["payment"]["payment_intent_id"]
    assert second.json()["payment"]["payment_intent_id"] == intent
    assert order_count(sessions) == 1


async def test_a_line_larger_than_any_one_warehouse_is_reserved_from_two(
    stack: Stack, sessions: SessionFactory
) -> None:
    """600 teas: the nearest warehouse gives its 500, the next nearest the other 100."""
    response = await stack.api.post(
        "/orders", json=order_body(lines=[{"sku": "TEA-001", "quantity": 600}])
    )
    assert response.status_code == 201, response.text
    stock = stock_snapshot(sessions)
    assert stock[("TEA-001", "HZ")] == (500, 500)
    assert stock[("TEA-001", "SH")] == (200, 100)


async def test_an_item_heavier_than_any_parcel_is_refused_and_nothing_is_written(
    stack: Stack, sessions: SessionFactory
) -> None:
    with transaction(sessions) as session:
        session.get(Product, "POT-004").weight_grams = 25_000  # type: ignore[union-attr]
    external_id = new_external_id()
    response = await stack.api.post(
        "/orders", json=order_body(external_id, lines=[{"sku": "POT-004", "quantity": 1}])
    )
    assert response.status_code == 422, response.text
    assert_error_body(response.json(), "unshippable_item")
    assert "20000 g" in response.json()["error"]["message"]
    await assert_nothing_written(stack, sessions, f"web-{external_id}")
