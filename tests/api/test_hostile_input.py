"""Hostile input, found by fuzzing and by hand: each is answered with a 4xx in the error JSON,
never a 500, and changes nothing (no rows, no workflow started or signalled)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType

from domain.contract import shipment_workflow_id
from store.db import SessionFactory
from store.models import Customer, Order
from tests.api.support import count_rows, order_json, signals_received, workflow_exists
from tests.conftest import Stack
from tests.helpers import order_body, place_order

STRIPE_WEBHOOK = "/webhooks/payments/stripe"
CARRIER_WEBHOOK = "/webhooks/carriers/sandbox"
MAX_BODY = 1024 * 1024  # the default max_body_bytes
DEEP = b"[" * 100_000 + b"]" * 100_000


def assert_refused(response: httpx.Response, status: int, code: str, case: object = "") -> None:
    """The status, and the error JSON every refusal has: one ``error`` with code and message."""
    assert response.status_code == status, (case, response.text)
    body = response.json()
    assert list(body) == ["error"], (case, body)
    assert body["error"]["code"] == code, (case, body)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], (case, body)


async def shipment_signals(stack: Stack, order_id: str) -> int:
    handle = stack.client.get_workflow_handle(shipment_workflow_id(order_id, 1))
    history = await handle.fetch_history()
    signalled = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    return sum(1 for event in history.events if event.event_type == signalled)


# --- control and bidi characters -------------------------------------------------------------

REFUSED_CHARACTERS = {
    "NUL": "\x00",
    "tab": "\t",
    "newline": "\n",
    "escape": "\x1b",
    "DEL": "\x7f",
    "C1 next line": "\x85",
    "line separator": "\u2028",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
}
ORDER_FIELDS = [
    ("customer", "id"),
    ("customer", "name"),
    ("shipping_address", "name"),
    ("shipping_address", "line1"),
    ("shipping_address", "line2"),
    ("shipping_address", "city"),
    ("shipping_address", "province"),
    ("shipping_address", "postal_code"),
]


def with_text(body: dict[str, Any], part: str, field: str, text: str) -> dict[str, Any]:
    changed = json.loads(json.dumps(body))
    target = changed[part][0] if part == "lines" else changed[part]
    target[field] = text
    return changed


async def test_order_text_with_control_or_bidi_characters_is_refused(
    stack: Stack, sessions: SessionFactory
) -> None:
    for part, field in [*ORDER_FIELDS, ("lines", "sku")]:
        for name, character in REFUSED_CHARACTERS.items():
            body = order_body(external_id="A-hostile")
            response = await stack.api.post(
                "/orders", json=with_text(body, part, field, f"Li{character}Na")
            )
            case = (part, field, name)
            assert_refused(response, 422, "validation_error", case)
            [problem] = response.json()["error"]["details"]
            assert problem["field"].startswith(f"{part}."), (case, problem)
    bad_key = await stack.api.post(
        "/orders", json=order_body(external_id=None), headers={"Idempotency-Key": "k\x001"}
    )
    assert_refused(bad_key, 422, "validation_error")

    assert count_rows(sessions, Order) == 0
    assert count_rows(sessions, Customer) == 0
    assert not await workflow_exists(stack, "web-A-hostile")


async def test_names_in_any_script_are_taken(stack: Stack) -> None:
    """The control: only control and bidi characters are refused, not other alphabets."""
    names = ["李娜", "Zoë Łukasiewicz-O'Brien", "لي نا", "לי נה", "Ли На", "👩\u200d👩\u200d👧"]
    for name in names:
        body = order_body()
        body["customer"]["name"] = body["shipping_address"]["name"] = name
        body["shipping_address"]["line1"] = f"{name}, 1 Wensan Rd"
        response = await stack.api.post("/orders", json=body)
        assert response.status_code == 201, (name, response.text)


async def test_changes_to_an_order_with_control_or_bidi_characters_are_refused(
    stack: Stack, sessions: SessionFactory
) -> None:
    order = await place_order(stack.api)
    base = f"/orders/{order['id']}"
    attempts = {
        "cancel reason": (f"{base}/cancel", {"reason": "changed my mind\x00"}),
        "cancel reason, bidi": (f"{base}/cancel", {"reason": "refund \u202eoT"}),
        "confirmed by": (f"{base}/confirm-receipt", {"by": "customer\nsupport"}),
        "carrier": (f"{base}/carrier-events", {"kind": "shipped", "carrier": "dhl\x1b"}),
        "tracking number": (
            f"{base}/carrier-events",
            {"kind": "shipped", "tracking_number": "SBX\u2066123"},
        ),
        "scanned order": (
            "/warehouse/scans",
            {"order_id": f"{order['id']}\x00", "package": 1, "sku": "TEA-001"},
        ),
        "scanned SKU": (
            "/warehouse/scans",
            {"order_id": order["id"], "package": 1, "sku": "TEA-001\u202e"},
        ),
    }
    for case, (url, body) in attempts.items():
        assert_refused(await stack.api.post(url, json=body), 422, "validation_error", case)
    for params in ({"customer_id": "c-42\x00"}, {"channel": "web\u202e"}):
        response = await stack.api.get("/orders", params=params)
        assert_refused(response, 422, "validation_error", params)
    # No order has such an ID: PostgreSQL would refuse to even look one up.
    for path in ("web-A%00", "web-A%E2%80%AE", "web-A%0A"):
        assert_refused(await stack.api.get(f"/orders/{path}"), 404, "order_not_found", path)
        response = await stack.api.post(f"/orders/{path}/cancel", json={"reason": "x"})
        assert_refused(response, 404, "order_not_found", path)

    assert await signals_received(stack, order["id"]) == 0
    assert (await order_json(stack, order["id"]))["status"] == "pending_payment"
