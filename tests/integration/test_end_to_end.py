"""One order through the real dev server, localstripe, the HTTP API and a signed webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.settings import Settings
from domain.access import Role
from integrations.carriers.sandbox import SandboxCarrier
from integrations.payments.localstripe import register_webhook
from integrations.payments.stripe import StripePayments
from orderflow.stack import free_port
from store.db import SessionFactory
from tests.conftest import WEBHOOK_SECRET, bearer
from tests.helpers import order_body, pay
from workers.main import build_worker

pytestmark = pytest.mark.integration


@pytest.fixture
async def api_url(
    dev_server_env: WorkflowEnvironment,
    sessions: SessionFactory,
    payments: StripePayments,
    activity_executor: ThreadPoolExecutor,
    task_queue: str,
    settings: Settings,
    localstripe_url: str,
) -> AsyncIterator[str]:
    """The API on a real port (localstripe must reach it) and a worker, both on the dev server."""
    port = free_port()
    app = create_app(
        settings, client=dev_server_env.client, sessions=sessions, task_queue=task_queue
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    worker = build_worker(
        dev_server_env.client,
        sessions=sessions,
        payments=payments,
        executor=activity_executor,
        task_queue=task_queue,
        carriers={"sandbox": SandboxCarrier(base_url=settings.carrier_api_base)},
    )
    url = f"http://127.0.0.1:{port}"
    register_webhook(
        api_base=localstripe_url,
        name="orderflow-e2e",
        url=f"{url}/webhooks/payments/stripe",
        secret=WEBHOOK_SECRET,
    )
    async with worker:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        yield url
        server.should_exit = True
        await serving


async def wait_for(api: httpx.AsyncClient, order_id: str, status: str, timeout: float = 20) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        order = (await api.get(f"/orders/{order_id}")).json()
        if order["status"] == status:
            return order
        await asyncio.sleep(0.1)
    raise AssertionError(f"{order_id} stuck in {order['status']}, expected {status}")


async def test_an_order_is_paid_through_a_real_signed_webhook_and_completes(
    api_url: str,
    localstripe_url: str,
    dev_server_env: WorkflowEnvironment,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    admin = bearer(sessions, settings, Role.ADMIN)
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=admin) as api:
        response = await api.post(
            "/orders", json=order_body(), headers={"Idempotency-Key": "e2e-1"}
        )
        assert response.status_code == 201, response.text
        order = response.json()
        order_id = order["id"]

        # The shopper pays; localstripe then POSTs a signed payment_intent.succeeded to the API.
        status = await asyncio.to_thread(
            pay, localstripe_url, order["payment"]["payment_intent_id"]
        )
        assert status == "succeeded"
        await wait_for(api, order_id, "allocated")

        for kind in ("shipped", "delivered"):
            sent = await api.post(f"/orders/{order_id}/carrier-events", json={"kind": kind})
            assert sent.status_code == 202
        await wait_for(api, order_id, "delivered")
        confirmed = await api.post(f"/orders/{order_id}/confirm-receipt", json={})
        assert confirmed.status_code == 200, confirmed.text
        done = await wait_for(api, order_id, "completed")

    assert [e["status"] for e in done["timeline"]] == [
        "pending_payment", "paid", "allocated", "fulfilling", "delivered", "completed"
    ]  # fmt: skip
    assert done["payment"]["status"] == "succeeded"
    # Operators find the order in the Temporal UI by its status.
    query = f"WorkflowId = 'order-{order_id}' AND OrderStatus = 'completed'"
    for _ in range(50):
        found = [wf.id async for wf in dev_server_env.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [f"order-{order_id}"]
