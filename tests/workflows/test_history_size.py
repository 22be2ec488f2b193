"""What a plain order costs Temporal, counted in history events: every event is a write on the
server, and the order's history is what a worker replays after a restart. `orderflow bench`
reports its orders against 50 (docs/benchmarks.md); this one is confirmed by its customer,
which adds an update. An order of one package runs its parcel's way itself, so its history is
all the order costs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.service import RPCError, RPCStatusCode

from domain.contract import order_workflow_id, shipment_workflow_id
from domain.order import OrderStatus
from tests.conftest import Stack
from tests.workflows.shipping_support import (
    T0,
    lines,
    paid_and_labelled,
    report,
    settle,
    wait_for,
)

# Measured 61, the parcel's way included (65 before the order's third shape recorded paid and
# allocated in one step and prepared its parcel in one; before the order ran its parcel
# itself: 59, and 25 more in the parcel's own workflow). The customer's confirmation is an
# update, and the step that records it goes through the server (6 events) so the update is on
# record before anything moves.
ORDER_EVENTS = 62


async def events(stack: Stack, workflow_id: str) -> list[str]:
    handle = stack.client.get_workflow_handle(workflow_id)
    return [event.WhichOneof("attributes") or "" async for event in handle.fetch_history_events()]


def counted(events: list[str]) -> int:
    """The history's length less any workflow task the machine's load made fail or time out
    (its scheduled, started and failed events): those are the test machine's, not the order's."""
    lost = sum(
        1
        for e in events
        if e
        in ("workflow_task_failed_event_attributes", "workflow_task_timed_out_event_attributes")
    )
    return len(events) - 3 * lost


async def test_a_one_package_order_reported_by_its_carrier_stays_within_its_event_budget(
    stack: Stack, localstripe_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    order_id, tracking = order["id"], package["tracking_number"]
    await report(stack, tracking, "picked_up", T0)
    await report(stack, tracking, "delivered", T0 + timedelta(hours=20))
    await wait_for(stack, order_id, OrderStatus.DELIVERED)
    confirmed = await stack.api.post(f"/orders/{order_id}/confirm-receipt", json={})
    assert confirmed.status_code == 200, confirmed.text
    await wait_for(stack, order_id, OrderStatus.COMPLETED)
    await settle(stack)

    order_events = await events(stack, order_workflow_id(order_id))
    assert order_events[-1] == "workflow_execution_completed_event_attributes"
    assert counted(order_events) <= ORDER_EVENTS, order_events
    # The order ran its parcel itself: no workflow of its own, no child started.
    with pytest.raises(RPCError) as missing:
        await events(stack, shipment_workflow_id(order_id, 1))
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    assert "start_child_workflow_execution_initiated_event_attributes" not in order_events
    # The carrier's reports reach the order straight from the API.
    signals = [e for e in order_events if e == "workflow_execution_signaled_event_attributes"]
    assert len(signals) == 3, order_events  # the payment's notice, the pickup, the delivery
