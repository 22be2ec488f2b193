"""Driving orders through shipping in workflow tests: placing, paying, the carrier's signed
reports, and waiting (in workflow time) for what should follow."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from sqlalchemy import select

from domain.contract import SLA_LEVEL
from domain.messages import OutboxReport, OutboxRequest
from domain.order import OrderStatus
from integrations.signing import sign
from store.db import SessionFactory, transaction
from store.models import Refund, Shipment, StockMovement
from store.repositories import StockRepository
from tests.conftest import CARRIER_SECRET, WEBHOOK_SECRET, Stack
from tests.helpers import pay, payment_event, place_order, stripe_signature
from workflows.notification_outbox import NotificationOutboxWorkflow

# One pass of the outbox that takes what was written a moment ago too.
OUTBOX_NOW = OutboxRequest(grace=timedelta(0))


async def run_outbox(stack: Stack, request: OutboxRequest = OUTBOX_NOW) -> OutboxReport:
    """One run of the ``notification-outbox`` schedule's workflow, on the stack's worker, at
    the test server's time as it stands: waiting for the run must not skip the clock to some
    order's next timer."""
    with stack.env.auto_time_skipping_disabled():
        return await stack.client.execute_workflow(
            NotificationOutboxWorkflow.run,
            request,
            id=f"notification-outbox-{uuid.uuid4().hex[:8]}",
            task_queue=stack.worker.task_queue,
        )


OrderBody = dict[str, Any]
Line = dict[str, Any]

CARRIER_WEBHOOK = "/webhooks/carriers/sandbox"
# The carrier's clock: explicit report times, so every stamp can be checked to the second.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))


def lines(**quantities: int) -> list[Line]:
    """``lines(TEA_001=2)`` → ``[{"sku": "TEA-001", "quantity": 2}]``."""
    return [{"sku": sku.replace("_", "-"), "quantity": q} for sku, q in quantities.items()]


def stock(sessions: SessionFactory, sku: str, warehouse: str) -> tuple[int, int]:
    """(on hand, reserved)."""
    with transaction(sessions) as session:
        level = StockRepository(session).level(sku, warehouse)
        assert level is not None
        return level.on_hand, level.reserved


def movements(sessions: SessionFactory, order_id: str, kind: str) -> list[StockMovement]:
    with transaction(sessions) as session:
        return list(
            session.scalars(
                select(StockMovement)
                .where(StockMovement.order_id == order_id, StockMovement.kind == kind)
                .order_by(StockMovement.id)
            )
        )


def ledger(sessions: SessionFactory, order_id: str, kind: str) -> list[tuple[Any, ...]]:
    return sorted(
        (m.reference, m.package, m.sku, m.warehouse, m.quantity)
        for m in movements(sessions, order_id, kind)
    )


def shipment_rows(sessions: SessionFactory, order_id: str) -> list[Shipment]:
    with transaction(sessions) as session:
        return list(
            session.scalars(
                select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.package)
            )
        )


def refunds(sessions: SessionFactory, order_id: str) -> list[Refund]:
    with transaction(sessions) as session:
        return list(session.scalars(select(Refund).where(Refund.order_id == order_id)))


async def get_order(stack: Stack, order_id: str) -> OrderBody:
    response = await stack.api.get(f"/orders/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def eventually(
    stack: Stack, probe: Callable[[], Awaitable[Any]], what: str, steps: int = 200
) -> Any:
    """Let workflow time pass in small steps until ``probe`` returns something truthy."""
    for _ in range(steps):
        if found := await probe():
            return found
        await stack.env.sleep(timedelta(milliseconds=50))
    raise AssertionError(f"never happened: {what}")


async def wait_for(stack: Stack, order_id: str, status: OrderStatus, note: str = "") -> OrderBody:
    """Until the order is in ``status`` and its timeline has an entry mentioning ``note``."""

    async def probe() -> OrderBody | None:
        order = await get_order(stack, order_id)
        notes = " | ".join(entry["note"] or "" for entry in order["timeline"])
        return order if order["status"] == status and note in notes else None

    return await eventually(stack, probe, f"order {order_id} {status} with {note!r}")


async def settle(stack: Stack) -> None:
    """Give the worker time to act on whatever it was just told (for "nothing changed")."""
    for _ in range(6):
        await stack.env.sleep(timedelta(milliseconds=50))


async def place(stack: Stack, order_lines: list[Line]) -> OrderBody:
    order = await place_order(stack.api, channel="web", lines=order_lines)
    assert order["status"] == "pending_payment"
    return order


async def pay_and_notify(stack: Stack, localstripe_url: str, order: OrderBody) -> None:
    """The customer pays and the provider's signed callback arrives (one event ID per payment)."""
    intent_id = order["payment"]["payment_intent_id"]
    assert pay(localstripe_url, intent_id) == "succeeded"
    payload = payment_event(order["id"], intent_id, event_id=f"evt_{intent_id}")
    response = await stack.api.post(
        "/webhooks/payments/stripe",
        content=payload,
        headers={"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET)},
    )
    assert response.status_code == 200, response.text


async def labelled(stack: Stack, order_id: str, count: int = 1) -> list[OrderBody]:
    """Until every package has its label; returns the order's packages."""

    async def probe() -> list[OrderBody] | None:
        packages = (await get_order(stack, order_id))["packages"]
        ready = len(packages) == count and all(p.get("tracking_number") for p in packages)
        return packages if ready else None

    return await eventually(stack, probe, f"{count} labels for {order_id}")


async def paid_and_labelled(
    stack: Stack, localstripe_url: str, order_lines: list[Line], count: int = 1
) -> tuple[OrderBody, list[OrderBody]]:
    order = await place(stack, order_lines)
    await pay_and_notify(stack, localstripe_url, order)
    await wait_for(stack, order["id"], OrderStatus.ALLOCATED)
    return order, await labelled(stack, order["id"], count)


async def two_parcels_picked_up(stack: Stack, localstripe_url: str) -> tuple[str, str, str]:
    """A paid order of tea and mooncakes in two packages, both with the carrier since T0:
    the order's ID and the two tracking numbers."""
    order, packages = await paid_and_labelled(
        stack, localstripe_url, lines(TEA_001=1, MOON_003=1), count=2
    )
    first, second = (p["tracking_number"] for p in packages)
    for tracking in (first, second):
        await report(stack, tracking, "picked_up", T0)
    return order["id"], first, second


def report_body(tracking: str, stage: str, at: datetime, event_id: str | None = None) -> bytes:
    event_id = event_id or f"evt-{tracking}-{stage}"
    body = {"event_id": event_id, "tracking_number": tracking, "stage": stage}
    return json.dumps(body | {"at": at.isoformat()}).encode()


async def post_report(
    stack: Stack, body: bytes, *, secret: str | None = CARRIER_SECRET, carrier: str = "sandbox"
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["Carrier-Signature"] = sign(body, secret)
    return await stack.api.post(f"/webhooks/carriers/{carrier}", content=body, headers=headers)


async def report(
    stack: Stack, tracking: str, stage: str, at: datetime, event_id: str | None = None
) -> dict[str, Any]:
    """The carrier's signed report; returns the API's answer."""
    response = await post_report(stack, report_body(tracking, stage, at, event_id))
    assert response.status_code == 200, response.text
    return response.json()


async def stamped(stack: Stack, order_id: str, package: int, stage: str) -> OrderBody:
    """Until the package's shipment shows ``stage``; returns that package."""

    async def probe() -> OrderBody | None:
        packages = (await get_order(stack, order_id))["packages"]
        [found] = [p for p in packages if p["number"] == package]
        return found if stage in found["stages"] else None

    return await eventually(stack, probe, f"package {package} of {order_id} {stage}")


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


async def scan(
    stack: Stack, order_id: str, package: int, sku: str, quantity: int = 1
) -> httpx.Response:
    return await stack.api.post(
        "/warehouse/scans",
        json={"order_id": order_id, "package": package, "sku": sku, "quantity": quantity},
    )


async def alerts(stack: Stack, kind: str, **params: str) -> list[dict[str, Any]]:
    """Open alerts of this kind, newest first (``include_resolved="true"`` for all)."""
    response = await stack.api.get("/alerts", params={"kind": kind, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def sla_alerts(stack: Stack, **params: str) -> list[dict[str, Any]]:
    return await alerts(stack, "sla", **params)


async def sla_level(stack: Stack, order_id: str) -> str | None:
    description = await stack.client.get_workflow_handle(f"order-{order_id}").describe()
    return description.typed_search_attributes.get(SLA_LEVEL)
