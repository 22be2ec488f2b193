"""Every webhook the API receives is recorded as it came, refused ones too, and recording
changes no answer: not when it works, not when it fails."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from store.db import SessionFactory
from store.webhook_log import MAX_BODY_BYTES, WebhookLogRepository
from tests.api.support import new_external_id
from tests.api.webhook_log_support import (
    CARRIER_ROUTE,
    STRIPE_ROUTE,
    log_rows,
    logged,
    post_carrier,
    post_stripe,
)
from tests.conftest import Stack
from tests.helpers import payment_event


def unknown_order_event(event_id: str, **extra: Any) -> bytes:
    """A well-signed event for an order we don't have: answered 200, changes nothing."""
    return json.dumps(
        {**json.loads(payment_event(f"web-{new_external_id()}", "pi_none", event_id)), **extra}
    ).encode()


async def test_a_signed_stripe_event_is_recorded_whole(
    stack: Stack, sessions: SessionFactory
) -> None:
    payload = unknown_order_event("evt_recorded")
    answer = await post_stripe(stack, payload)
    assert (answer.status_code, answer.json()["accepted"]) == (200, False)

    [row] = log_rows(sessions)
    assert (row.source, row.event_id, row.signature_ok, row.status) == (
        "stripe",
        "evt_recorded",
        True,
        200,
    )
    assert row.body == payload and row.body_size == len(payload)
    assert row.signature is not None and row.signature.startswith("t=")
    assert row.replay_of is None
    assert abs(row.received_at.timestamp() - time.time()) < 60


async def test_refused_webhooks_are_recorded_with_the_answer_they_got(
    stack: Stack, sessions: SessionFactory
) -> None:
    payload = unknown_order_event("evt_forged")
    forged = await post_stripe(stack, payload, secret="whsec_someone_else")
    unsigned = await stack.api.post(STRIPE_ROUTE, content=payload)
    report = json.dumps({"event_id": "trk-1", "tracking_number": "SBX1", "stage": "picked_up"})
    carrier = await post_carrier(stack, report.encode(), secret="whsec_someone_else")
    fedex = await post_carrier(stack, report.encode(), route="/webhooks/carriers/fedex")
    assert [r.status_code for r in (forged, unsigned, carrier, fedex)] == [400, 400, 400, 404]

    rows = [(r.source, r.event_id, r.signature_ok, r.status) for r in log_rows(sessions)]
    assert rows == [
        ("stripe", "evt_forged", False, 400),
        ("stripe", "evt_forged", False, 400),
        ("carrier:sandbox", "trk-1", False, 400),
        # Refused before the route read the body: the log holds what the API took in.
        ("carrier:fedex", None, False, 404),
    ]
    assert log_rows(sessions)[1].signature is None
    assert log_rows(sessions)[3].body == b""


async def test_a_signed_carrier_report_is_recorded(stack: Stack, sessions: SessionFactory) -> None:
    report = {"event_id": "trk-2", "tracking_number": "SBX0000000000", "stage": "picked_up"}
    body = json.dumps(report | {"at": "2026-03-02T09:00:00+00:00"}).encode()
    answer = await post_carrier(stack, body)
    assert (answer.status_code, answer.json()["accepted"]) == (200, False)
    [row] = log_rows(sessions)
    assert (row.source, row.event_id, row.signature_ok, row.status, row.body) == (
        "carrier:sandbox",
        "trk-2",
        True,
        200,
        body,
    )


async def test_hostile_bodies_are_recorded_without_an_event_id(
    stack: Stack, sessions: SessionFactory
) -> None:
    """Not JSON, nested past any parser's depth, bigger than what is kept: recorded, cut to
    the cap, and answered exactly as without the log."""
    deep = b"[" * 100_000 + b"]" * 100_000
    oversized = unknown_order_event("evt_big", padding="x" * (MAX_BODY_BYTES + 10))
    answers = [
        await post_carrier(stack, b"\xff\xfe not json"),
        await post_stripe(stack, deep),
        await post_stripe(stack, oversized),
    ]

    not_json, nested, big = log_rows(sessions)
    # Whatever the routes answer such bodies, the log holds that answer.
    assert [row.status for row in (not_json, nested, big)] == [a.status_code for a in answers]
    assert (not_json.event_id, not_json.body) == (None, b"\xff\xfe not json")
    assert (nested.event_id, nested.body_size, len(nested.body)) == (None, 200_000, MAX_BODY_BYTES)
    assert (big.event_id, big.status, big.body_size) == (None, 200, len(oversized))
    assert big.body == oversized[:MAX_BODY_BYTES]


async def test_a_log_that_cannot_be_written_changes_no_answer(
    stack: Stack, sessions: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> int:
        raise RuntimeError("the log's table is gone")

    monkeypatch.setattr(WebhookLogRepository, "record", broken)
    payload = unknown_order_event("evt_unlogged")
    answer = await post_stripe(stack, payload)
    assert answer.status_code == 200 and answer.json()["accepted"] is False
    forged = await post_stripe(stack, payload, secret="whsec_someone_else")
    assert forged.status_code == 400
    assert log_rows(sessions) == []


async def test_other_routes_are_not_recorded(stack: Stack, sessions: SessionFactory) -> None:
    assert (await stack.api.get("/healthz")).status_code == 200
    assert (await stack.api.post(f"{CARRIER_ROUTE}/extra", content=b"{}")).status_code == 404
    assert log_rows(sessions) == []


async def test_a_body_no_signature_vouches_for_is_kept_only_in_part(
    stack: Stack, sessions: SessionFactory
) -> None:
    noise = json.dumps({"id": "evt_noise", "padding": "x" * 20_000}).encode()
    refused = await stack.api.post(
        "/webhooks/payments/stripe", content=noise, headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert refused.status_code == 400
    late = json.dumps({"id": "evt_late_big", "padding": "y" * 20_000}).encode()
    assert (await post_stripe(stack, late, at=int(time.time()) - 3600)).status_code == 400
    forged, genuine = await logged(sessions, 2)
    assert (len(forged.body), forged.body_size) == (1024, len(noise))
    assert genuine.body == late  # signed, only too old: kept whole, to be replayed
