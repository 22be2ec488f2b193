"""Returns through the API, with the real worker, database, sandbox carrier and localstripe:
an RMA and its label, the warehouse's scans and inspection, the refund and the restock (or
the quarantine), the RMA that expires; and every refusal a 4xx that changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from domain.access import Role
from domain.order import OrderStatus
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory, transaction
from store.models import Notification
from tests.api.test_refunds import at_provider, delivered_order
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    T0,
    alerts,
    error_code,
    eventually,
    get_order,
    ledger,
    lines,
    paid_and_labelled,
    refunds,
    report,
    stock,
    wait_for,
)

S = OrderStatus


async def open_return(
    stack: Stack, order_id: str, role: Role = Role.CUSTOMER, **quantities: int
) -> httpx.Response:
    wanted = [{"sku": sku.replace("_", "-"), "quantity": n} for sku, n in quantities.items()]
    return await stack.api.post(
        f"/orders/{order_id}/returns",
        json={"lines": wanted, "reason": "too small"},
        headers=stack.as_role(role, "c-42"),
    )


async def scan(stack: Stack, rma: str, sku: str, quantity: int = 1) -> httpx.Response:
    return await stack.api.post(
        "/warehouse/returns/scans",
        json={"rma": rma, "sku": sku, "quantity": quantity},
        headers=stack.as_role(Role.WAREHOUSE, "wu"),
    )


async def inspect(stack: Stack, rma: str, verdict: str, note: str = "") -> httpx.Response:
    return await stack.api.post(
        f"/warehouse/returns/{rma}/inspection",
        json={"verdict": verdict, "note": note},
        headers=stack.as_role(Role.WAREHOUSE, "wu"),
    )


def notes_to_customer(sessions: SessionFactory, order_id: str) -> list[str]:
    with transaction(sessions) as session:
        rows = session.scalars(select(Notification).where(Notification.order_id == order_id))
        return [row.message for row in rows if row.key.startswith("RMA-")]


async def test_a_return_that_passes_is_refunded_by_the_running_order_and_restocked(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    on_hand = stock(sessions, "TEA-001", "HZ")[0]

    opened = await open_return(stack, order_id, TEA_001=1)

    assert opened.status_code == 201, opened.text
    rma: dict[str, Any] = opened.json()
    assert rma["status"] == "open" and rma["rma"] == f"RMA-{order_id}-1"
    assert rma["label"]["tracking_number"].startswith("SBX")
    # The carrier reports the parcel on its way back: noted on the RMA.
    told = await report(stack, rma["label"]["tracking_number"], "picked_up", T0)
    assert told["accepted"] is True and rma["rma"] in told["detail"]
    [row] = (await stack.api.get(f"/orders/{order_id}/returns")).json()
    assert row["note"].startswith("the carrier reports it picked_up")
    wrong = await scan(stack, rma["rma"], "CUP-002")
    assert wrong.status_code == 409 and error_code(wrong) == "scan_refused"
    assert "TEA-001" in wrong.json()["error"]["message"]
    assert (await scan(stack, rma["rma"], "TEA-001", 2)).status_code == 409  # one too many
    assert (await inspect(stack, rma["rma"], "pass")).status_code == 409  # nothing scanned yet
    scanned = await scan(stack, rma["rma"], "TEA-001")
    assert scanned.status_code == 200, scanned.text

    async def received() -> bool | None:
        rows = (await stack.api.get(f"/orders/{order_id}/returns")).json()
        return True if rows[0]["status"] == "received" else None

    await eventually(stack, received, "the return to be received")
    passed = await inspect(stack, rma["rma"], "pass")

    assert passed.status_code == 200, passed.text
    assert passed.json()["status"] == "passed"
    await wait_for(stack, order_id, S.PARTIALLY_REFUNDED)
    [refund] = refunds(sessions, order_id)
    assert (refund.amount, refund.purpose) == (1_800, f"return-{rma['rma']}")
    assert at_provider(payments, sessions, order_id) == [1_800]
    assert stock(sessions, "TEA-001", "HZ")[0] == on_hand + 1
    assert ledger(sessions, order_id, "restock") == [(rma["rma"], None, "TEA-001", "HZ", 1)]
    [row] = (await stack.api.get(f"/orders/{order_id}/returns")).json()
    assert row["received_at"] and row["closed_at"] and row["status"] == "passed"
    assert any("passed inspection" in text for text in notes_to_customer(sessions, order_id))
    # The unit is spoken for: it can't be returned again.
    again = await open_return(stack, order_id, TEA_001=2)
    assert again.status_code == 409 and "1 can be returned" in again.json()["error"]["message"]
    await stack.keep_return_history(rma["rma"], "passed_and_refunded_by_the_running_order")
    await stack.api.post(f"/orders/{order_id}/confirm-receipt", json={})
    await wait_for(stack, order_id, S.COMPLETED)
    await stack.keep_history(order_id, "partly_refunded_by_a_return_then_completed")


async def test_a_completed_order_is_refunded_by_the_return_itself(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    await stack.api.post(f"/orders/{order_id}/confirm-receipt", json={})
    await wait_for(stack, order_id, S.COMPLETED)
    rma = (await open_return(stack, order_id, TEA_001=2)).json()["rma"]
    assert (await scan(stack, rma, "TEA-001", 2)).status_code == 200

    async def inspected() -> httpx.Response | None:
        answer = await inspect(stack, rma, "pass")
        return answer if answer.status_code == 200 else None

    passed = await eventually(stack, inspected, "the inspection to be taken")

    assert passed.json()["note"] == "passed inspection: refunded 36.00 USD"
    assert at_provider(payments, sessions, order_id) == [3_600]
    assert (await get_order(stack, order_id))["status"] == "completed"
    await stack.keep_return_history(rma, "passed_and_refunded_after_the_order_completed")


async def test_a_return_that_fails_inspection_is_quarantined_not_refunded(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, payments: StripePayments
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    on_hand = stock(sessions, "TEA-001", "HZ")[0]
    rma = (await open_return(stack, order_id, TEA_001=1)).json()["rma"]
    await scan(stack, rma, "TEA-001")

    async def inspected() -> httpx.Response | None:
        answer = await inspect(stack, rma, "fail", "seal broken, tea opened")
        return answer if answer.status_code == 200 else None

    failed = await eventually(stack, inspected, "the inspection to be taken")

    assert failed.json()["status"] == "failed"
    assert refunds(sessions, order_id) == [] and at_provider(payments, sessions, order_id) == []
    assert stock(sessions, "TEA-001", "HZ")[0] == on_hand  # not for sale
    assert ledger(sessions, order_id, "quarantine") == [(rma, None, "TEA-001", "HZ", 1)]
    [alert] = await alerts(stack, "return")
    assert rma in alert["message"] and alert["role"] == "support"
    await stack.keep_return_history(rma, "failed_and_quarantined")


async def test_a_return_whose_parcel_never_comes_expires_and_the_customer_is_told(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    rma = (await open_return(stack, order_id, TEA_001=1)).json()["rma"]

    await stack.env.sleep(timedelta(days=15))

    async def expired() -> bool | None:
        rows = (await stack.api.get(f"/orders/{order_id}/returns")).json()
        return True if rows[0]["status"] == "expired" else None

    await eventually(stack, expired, "the RMA to expire")
    assert any("expired" in text for text in notes_to_customer(sessions, order_id))
    assert (await scan(stack, rma, "TEA-001")).status_code in (404, 409)
    await stack.keep_return_history(rma, "expired_without_a_parcel")
    # Its units may be returned again.
    assert (await open_return(stack, order_id, TEA_001=1)).status_code == 201


async def test_what_cannot_be_returned_is_refused_and_nothing_is_written(
    stack: Stack, localstripe_url: str, sessions: SessionFactory
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    shipped, _ = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))

    too_many = await open_return(stack, order_id, TEA_001=3)
    not_ordered = await open_return(stack, order_id, CUP_002=1)
    not_delivered = await open_return(stack, shipped["id"], TEA_001=1)
    warehouse = await open_return(stack, order_id, role=Role.WAREHOUSE, TEA_001=1)
    nobody = await stack.api.post(
        "/warehouse/returns/RMA-nope-1/inspection",
        json={"verdict": "pass"},
        headers=stack.as_role(Role.WAREHOUSE, "wu"),
    )

    assert [r.status_code for r in (too_many, not_ordered, not_delivered)] == [409, 409, 409]
    assert "2 can be returned" in too_many.json()["error"]["message"]
    assert "CUP-002 was not delivered" in not_ordered.json()["error"]["message"]
    assert warehouse.status_code == 403
    assert nobody.status_code == 404
    assert (await stack.api.get(f"/orders/{order_id}/returns")).json() == []
