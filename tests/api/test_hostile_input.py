"""Hostile input, found by fuzzing and by hand: each is answered with a 4xx in the error JSON,
never a 500, and changes nothing (no rows, no workflow started or signalled)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType

from domain.contract import OrderSignal, order_workflow_id
from integrations.signing import sign
from store.db import SessionFactory, transaction
from store.models import Alert, Customer, Order, PaymentEvent
from store.repositories import AlertRepository
from tests.api.support import count_rows, order_json, signals_received, workflow_exists
from tests.conftest import CARRIER_SECRET, WEBHOOK_SECRET, Stack
from tests.helpers import order_body, payment_event, place_order
from tests.workflows.shipping_support import T0, lines, paid_and_labelled, report_body

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


async def parcel_signals(stack: Stack, order_id: str) -> int:
    """The carrier's reports that reached the order's one parcel (the order runs it)."""
    handle = stack.client.get_workflow_handle(order_workflow_id(order_id))
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name
        == OrderSignal.PARCEL_EVENT
    )


# --- signatures ------------------------------------------------------------------------------


def hostile_signatures(payload: bytes, secret: str) -> dict[str, bytes]:
    """Signature headers that must each be refused, as the bytes a client sends."""
    now = int(time.time())
    digest = sign(payload, secret, now).split("v1=")[1]
    return {
        "non-ASCII v1": f"t={now},v1={digest[:-1]}é".encode(),
        "non-ASCII digits in t": f"t={'٣' * 10},v1={digest}".encode(),
        "400-digit t": f"t={'9' * 400},v1={digest}".encode(),
        "t with a sign": f"t=+{now},v1={digest}".encode(),
        "a year ahead, right secret": sign(payload, secret, now + 365 * 24 * 3600).encode(),
        "ten minutes ahead": sign(payload, secret, now + 600).encode(),
        "ten minutes late": sign(payload, secret, now - 600).encode(),
        "two timestamps": f"t={now},t={now},v1={digest}".encode(),
        "no v1": f"t={now}".encode(),
        "v1 not hex": f"t={now},v1={'z' * 64}".encode(),
        "not key=value": b"signature",
        "only commas": b",,,",
        "NUL": f"t={now}\x00,v1={digest}".encode(),
    }


async def test_hostile_stripe_signatures_are_refused_and_change_nothing(
    stack: Stack, sessions: SessionFactory
) -> None:
    order = await place_order(stack.api)
    payload = payment_event(order["id"], order["payment"]["payment_intent_id"])

    for case, header in hostile_signatures(payload, WEBHOOK_SECRET).items():
        response = await stack.api.post(
            STRIPE_WEBHOOK, content=payload, headers={"Stripe-Signature": header}
        )
        assert_refused(response, 400, "bad_signature", case)

    assert await signals_received(stack, order["id"]) == 0
    assert count_rows(sessions, PaymentEvent) == 0
    # The control: the same event with one good signature among several is taken.
    wrong = sign(payload, "whsec_someone_else").split("v1=")[1]
    several = f"{sign(payload, WEBHOOK_SECRET)},v1={wrong}"
    response = await stack.api.post(
        STRIPE_WEBHOOK, content=payload, headers={"Stripe-Signature": several}
    )
    assert response.status_code == 200, response.text
    assert count_rows(sessions, PaymentEvent) == 1


async def test_hostile_carrier_signatures_are_refused_and_change_nothing(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    signals_before = await parcel_signals(stack, order["id"])
    pickup = report_body(package["tracking_number"], "picked_up", T0)

    for case, header in hostile_signatures(pickup, CARRIER_SECRET).items():
        response = await stack.api.post(
            CARRIER_WEBHOOK, content=pickup, headers={"Carrier-Signature": header}
        )
        assert_refused(response, 400, "bad_signature", case)

    await assert_parcel_untouched(stack, order["id"], signals_before)
    await assert_report_taken(stack, pickup)


async def assert_parcel_untouched(stack: Stack, order_id: str, signals_before: int) -> None:
    assert await parcel_signals(stack, order_id) == signals_before
    [package] = (await order_json(stack, order_id))["packages"]
    assert package["shipment_status"] == "label_bought"


async def assert_report_taken(stack: Stack, body: bytes) -> None:
    """The control: a good report, well signed, is taken."""
    signature = sign(body, CARRIER_SECRET)
    response = await stack.api.post(
        CARRIER_WEBHOOK, content=body, headers={"Carrier-Signature": signature}
    )
    assert response.status_code == 200 and response.json()["accepted"] is True, response.text


# --- Stripe event bodies ---------------------------------------------------------------------


async def test_signed_stripe_bodies_that_are_no_event_are_refused_and_change_nothing(
    stack: Stack, sessions: SessionFactory
) -> None:
    order = await place_order(stack.api)
    event = json.loads(payment_event(order["id"], order["payment"]["payment_intent_id"]))

    def changed(**fields: Any) -> bytes:
        return json.dumps(event | fields).encode()

    hostile = {
        "not JSON": b"payment_intent.succeeded",
        "not UTF-8": b"\xff\xfe\x00{}",
        "nested 100k deep": DEEP,
        "an array": b"[]",
        "a string": b'"evt_1"',
        "wrong types": json.dumps({"id": 1, "type": [], "data": "x"}).encode(),
        "data not an object": changed(data=[1, 2]),
        "NUL in the event ID": changed(id="evt_\x001"),
        "event ID of 1000 characters": changed(id="e" * 1000),
    }
    for case, body in hostile.items():
        signature = sign(body, WEBHOOK_SECRET)
        response = await stack.api.post(
            STRIPE_WEBHOOK, content=body, headers={"Stripe-Signature": signature}
        )
        assert_refused(response, 400, "invalid_request", case)

    # Signed by Stripe, so not refused (a retry would not help), but not one of our orders.
    metadata = {"order_id": f"{order['id']}\x00"}
    odd = event | {"data": {"object": {"id": "pi_1", "metadata": metadata}}}
    body = json.dumps(odd).encode()
    response = await stack.api.post(
        STRIPE_WEBHOOK, content=body, headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET)}
    )
    assert response.status_code == 200, response.text

    assert count_rows(sessions, PaymentEvent) == 0
    assert await signals_received(stack, order["id"]) == 0
    assert (await order_json(stack, order["id"]))["status"] == "pending_payment"


# --- carrier reports -------------------------------------------------------------------------


async def test_signed_carrier_reports_that_cannot_be_true_are_refused_and_change_nothing(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    tracking = package["tracking_number"]
    signals_before = await parcel_signals(stack, order["id"])

    def report(**changes: str) -> bytes:
        fields = {"event_id": "evt-1", "tracking_number": tracking, "stage": "picked_up"}
        return json.dumps(fields | {"at": T0.isoformat()} | changes).encode()

    hostile = {
        # Valid ISO datetimes with no UTC equivalent.
        "dated past year 9999 in UTC": report(at="9999-12-31T23:59:59-14:00"),
        "dated before year 1 in UTC": report(at="0001-01-01T00:00:00+14:00"),
        # Convertible, but no carrier saw it happen; its deadlines would overflow.
        "dated in year 9999": report(at="9999-12-31T00:00:00+00:00"),
        "nested 100k deep": DEEP,
        "NUL in the tracking number": report(tracking_number=f"{tracking}\x00"),
        "bidi override in the event ID": report(event_id="evt-\u202e1"),
        "tracking number of 300 characters": report(tracking_number="S" * 300),
        "not UTF-8": b"\xff\xfe{}",
    }
    for case, body in hostile.items():
        signature = sign(body, CARRIER_SECRET)
        response = await stack.api.post(
            CARRIER_WEBHOOK, content=body, headers={"Carrier-Signature": signature}
        )
        assert_refused(response, 400, "invalid_request", case)

    await assert_parcel_untouched(stack, order["id"], signals_before)
    await assert_report_taken(stack, report())


# --- IDs and cursors beyond the database's integers and dates --------------------------------


def raise_alert(sessions: SessionFactory) -> None:
    with transaction(sessions) as session:
        AlertRepository(session).raise_once(
            kind="carrier_exception",
            key="carrier_exception:shipment-web-A-1-1",
            level="red",
            subject="package 1 of order web-A-1",
            message="sandbox reported an exception",
            role="support",
        )


async def test_alert_ids_and_cursors_beyond_the_column_are_refused(
    stack: Stack, sessions: SessionFactory
) -> None:
    raise_alert(sessions)
    for alert_id in ("9223372036854775808", "18446744073709551616", "2147483648", "0", "-1"):
        response = await stack.api.post(f"/alerts/{alert_id}/resolve")
        assert_refused(response, 404, "alert_not_found", alert_id)
    for cursor in ("9223372036854775808", "2147483648", "9" * 5000, "-1", "1e3", "٣"):
        response = await stack.api.get("/alerts", params={"cursor": cursor})
        assert_refused(response, 400, "invalid_request", cursor)
    assert count_rows(sessions, Alert, resolved_at=None) == 1


def cursor(*position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


async def test_order_cursors_whose_dates_overflow_are_refused(stack: Stack) -> None:
    hostile = {
        "year 9999 behind UTC": cursor("9999-12-31T23:59:59-14:00", "web-A-1"),
        "year 1 ahead of UTC": cursor("0001-01-01T00:00:00+14:00", "web-A-1"),
        "datetime.max, one minute behind UTC": cursor(
            "9999-12-31T23:59:59.999999-00:01", "web-A-1"
        ),
        "datetime.max without a zone": cursor("9999-12-31T23:59:59.999999", "web-A-1"),
        "NUL in the order ID": cursor("2026-03-02T09:00:00+00:00", "web-A\x001"),
        "nested 5000 deep": base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode(),
    }
    for case, token in hostile.items():
        response = await stack.api.get("/orders", params={"cursor": token})
        assert_refused(response, 400, "invalid_request", case)


# --- body size -------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_unread(
    stack: Stack, sessions: SessionFactory
) -> None:
    json_body = {"content-type": "application/json"}
    announced = await stack.api.post("/orders", content=b" " * 20_000_000, headers=json_body)
    assert_refused(announced, 413, "body_too_large")

    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(320):  # 20 MiB, with no Content-Length
            sent.append(1)
            yield b" " * 65536

    streamed = await stack.api.post("/orders", content=chunks(), headers=json_body)
    assert_refused(streamed, 413, "body_too_large")
    assert len(sent) <= MAX_BODY // 65536 + 2  # reading stopped at the limit

    assert count_rows(sessions, Order) == 0
    # At the limit, the body is read (and found not to be an order).
    at_limit = await stack.api.post("/orders", content=b"{}".ljust(MAX_BODY), headers=json_body)
    assert_refused(at_limit, 422, "validation_error")


async def test_a_route_that_ignores_its_body_does_not_run_when_the_body_is_too_large(
    stack: Stack, sessions: SessionFactory
) -> None:
    raise_alert(sessions)
    [alert] = (await stack.api.get("/alerts")).json()["items"]
    response = await stack.api.post(f"/alerts/{alert['id']}/resolve", content=b" " * (MAX_BODY + 1))
    assert_refused(response, 413, "body_too_large")
    assert count_rows(sessions, Alert, resolved_at=None) == 1


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
