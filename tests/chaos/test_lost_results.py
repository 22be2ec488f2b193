"""The worker dies right after each stock step committed, once per step: orders still end
exactly as they should.

A random kill (``test_crashes.py``) rarely lands between a step's commit and the end of its
workflow task; ``LoseResults`` lands there every time, so the replays that follow run the
stock steps again against a database where they, and the steps after them, happened:
reserving, the lapsed pre-reservation's release, the shipment's stock check and the
hand-over. It takes seconds, in ``make test`` and ``make chaos`` alike, and catches the loss
of a reservation on every run, where the small random run of the crash tests rarely does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.contract import order_workflow_id
from domain.order import OrderStatus
from domain.rules import ChannelRules, FulfilmentRules, LockStrategy
from integrations.carriers.sandbox import SandboxCarrier
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory, transaction
from store.repositories import StockRepository
from tests.chaos.lost_results import LoseResults
from tests.conftest import TEST_RULES, Stack, _stack, settings_for
from tests.helpers import pay, place_order
from tests.workflows.shipping_support import (
    OrderBody,
    get_order,
    ledger,
    lines,
    pay_and_notify,
)

pytestmark = pytest.mark.chaos

STOCK_STEPS = {
    "plan_and_reserve",
    "release_stock",
    "check_package_stock",
    "prepare_parcel",  # the stock check of the parcel an order of one package runs
    "hand_over",
}
# Real time (a failed workflow task is handed out again at once on the dev server, after 10 s
# on the time-skipping one). The provider is asked before the pre-reservation lapses, so that
# a payment made after that check is found at the lapse: release, payment check and the next
# reservation round then run in one workflow task.
POLL_AFTER = timedelta(seconds=1)
PRE_RESERVATION = timedelta(seconds=3)


@pytest.fixture
def rules() -> FulfilmentRules:
    flash = ChannelRules(lock=LockStrategy.PRE_RESERVE, reservation_ttl=PRE_RESERVATION)
    return TEST_RULES.model_copy(update={"channels": {**TEST_RULES.channels, "flash": flash}})


@pytest.fixture
def settings(database_url: str, localstripe_url: str, sandbox_carrier_url: str) -> Settings:
    return settings_for(
        database_url,
        localstripe_url,
        carrier_api_base=sandbox_carrier_url,
        payment_poll_after_seconds=int(POLL_AFTER.total_seconds()),
    )


@pytest.fixture
def losing() -> LoseResults:
    return LoseResults(STOCK_STEPS)


@pytest.fixture
async def losing_stack(
    dev_server_env: WorkflowEnvironment,
    sessions: SessionFactory,
    payments: StripePayments,
    activity_executor: ThreadPoolExecutor,
    task_queue: str,
    settings: Settings,
    rules: FulfilmentRules,
    losing: LoseResults,
) -> AsyncIterator[Stack]:
    """The workflow-test stack, on a worker that loses each stock step's result once."""
    async for running in _stack(
        dev_server_env,
        sessions,
        payments,
        activity_executor,
        task_queue,
        settings,
        rules=rules,
        carriers={"sandbox": SandboxCarrier(base_url=settings.carrier_api_base)},
        interceptors=[losing],
    ):
        yield running


async def placed(stack: Stack, losing: LoseResults, channel: str, **quantities: int) -> OrderBody:
    """Intake runs whole: an update-with-start whose first task fails is refused, and the
    client's retry (the crash tests cover it) costs the update's 20 s wait."""
    losing.armed = False
    order = await place_order(stack.api, channel=channel, lines=lines(**quantities))
    losing.armed = True
    return order


async def ends_in(
    stack: Stack, order_id: str, status: OrderStatus, *, labelled: bool = False
) -> OrderBody:
    """Until the order reaches ``status`` (with every package's label bought, if asked);
    on hold instead (a package blocked) fails at once, with the reason."""
    for _ in range(200):
        order = await get_order(stack, order_id)
        if order["status"] == OrderStatus.ON_HOLD:
            raise AssertionError(f"{order_id} on hold: {order['timeline'][-1]['note']}")
        if order["status"] == status and (
            not labelled or all(p.get("tracking_number") for p in order["packages"])
        ):
            return order
        await asyncio.sleep(0.05)
    raise AssertionError(f"{order_id} is {order['status']}, never {status}")


async def asked_the_provider(stack: Stack, order_id: str) -> None:
    """Until the order's history records a payment check (its poll, no webhook sent)."""
    handle = stack.client.get_workflow_handle(order_workflow_id(order_id))
    for _ in range(100):
        history = await handle.fetch_history()
        if any(b"check_payment" in _marker_data(event) for event in history.events):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{order_id} never asked the provider")


def _marker_data(event: HistoryEvent) -> bytes:
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return b""
    return b"".join(p.data for p in event.marker_recorded_event_attributes.details["data"].payloads)


def assert_shipped_as_reserved(sessions: SessionFactory, order_id: str, round_: int) -> None:
    """Every unit of the round reserved once, for its package, and gone with that package."""
    reserved = [r for r in ledger(sessions, order_id, "reserve") if f"/{round_}/" in r[0]]
    assert reserved, f"{order_id} reserved nothing in round {round_}"
    assert ledger(sessions, order_id, "ship") == reserved


async def test_a_pickup_reported_early_survives_each_stock_steps_result_lost_once(
    losing_stack: Stack, losing: LoseResults, localstripe_url: str, sessions: SessionFactory
) -> None:
    """As the crash tests' client does: shipped and delivered are reported before paying.
    Each shipment finds the pickup waiting, so its stock check, label and hand-over run in
    its first workflow task; losing the hand-over replays that task, check included."""
    stack = losing_stack
    order = await placed(stack, losing, "web", TEA_001=2, MOON_003=1)
    order_id = order["id"]
    for kind in ("shipped", "delivered"):
        response = await stack.api.post(
            f"/orders/{order_id}/carrier-events", json={"kind": kind, "carrier": "chaos"}
        )
        assert response.status_code == 202, response.text
    await pay_and_notify(stack, localstripe_url, order)

    await ends_in(stack, order_id, OrderStatus.DELIVERED)
    assert losing.lost == {"check_package_stock": 2, "hand_over": 2}
    assert_shipped_as_reserved(sessions, order_id, 1)
    assert ledger(sessions, order_id, "release") == []


async def test_a_lapsed_pre_reservation_paid_late_survives_each_stock_steps_result_lost_once(
    losing_stack: Stack, losing: LoseResults, localstripe_url: str, sessions: SessionFactory
) -> None:
    """Paid after the payment check but before the pre-reservation lapsed, with no webhook:
    the lapse releases round 1, finds the payment and reserves round 2 in one task. Losing
    round 2's reservation replays the release: it must not give round 2 back."""
    stack = losing_stack
    order = await placed(stack, losing, "flash", TEA_001=2)
    order_id = order["id"]
    await asked_the_provider(stack, order_id)  # unpaid then
    assert pay(localstripe_url, order["payment"]["payment_intent_id"]) == "succeeded"

    body = await ends_in(stack, order_id, OrderStatus.ALLOCATED)
    assert "reservation released, 2 units back on sale" in body["timeline"][1]["note"]
    await ends_in(stack, order_id, OrderStatus.ALLOCATED, labelled=True)  # stock check passed
    assert losing.lost == {"release_stock": 1, "plan_and_reserve": 1, "prepare_parcel": 1}
    assert [r[0] for r in ledger(sessions, order_id, "release")] == [f"{order_id}/1/1"]
    with transaction(sessions) as session:
        held = [m.reference for m in StockRepository(session).held_by(order_id)]
    assert held == [f"{order_id}/2/1"]
