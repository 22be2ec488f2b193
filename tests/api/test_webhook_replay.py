"""``orderflow webhooks replay`` re-sends a recorded webhook, signed afresh, to the API served
for real: the API verifies it, answers a payment event already taken as a duplicate, and the
order and its parcel move once. The log tells an old but genuine signature from a body that
no longer matches it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import uvicorn
from click.testing import Result
from sqlalchemy import update
from typer.testing import CliRunner

from api.main import create_app
from config.settings import get_settings
from domain.order import OrderStatus
from domain.rules import FulfilmentRules
from orderflow.cli import app
from orderflow.stack import free_port
from store.db import SessionFactory, transaction
from store.models import WebhookLog
from tests.api.support import new_external_id, signals_received
from tests.api.webhook_log_support import log_rows, logged, post_stripe
from tests.conftest import CARRIER_SECRET, WEBHOOK_SECRET, Stack
from tests.helpers import pay, payment_event, place_order
from tests.workflows.shipping_support import (
    T0,
    get_order,
    lines,
    paid_and_labelled,
    report,
    settle,
    shipment_rows,
    stamped,
    wait_for,
)


@pytest.fixture
def cli_settings(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI reads its settings from the environment, as it would on a server."""
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", stack.settings.database_url)
    monkeypatch.setenv("ORDERFLOW_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("ORDERFLOW_CARRIER_WEBHOOK_SECRET", CARRIER_SECRET)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
async def api_url(
    stack: Stack,
    task_queue: str,
    rules: FulfilmentRules,
    cli_settings: None,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[str]:
    """The stack's API under uvicorn on a free port, which is this API's own address for the
    CLI: a replay without --target goes there."""
    port = free_port()
    served = create_app(
        stack.settings, client=stack.client, sessions=stack.sessions, task_queue=task_queue,
        rules=rules,
    )  # fmt: skip
    server = uvicorn.Server(
        uvicorn.Config(served, host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    monkeypatch.setenv("ORDERFLOW_API_PORT", str(port))
    get_settings.cache_clear()
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


async def webhooks(*arguments: str) -> Result:
    """``orderflow webhooks ...`` in a thread: the API it talks to runs on this loop."""
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, app, ["webhooks", *arguments], env={"COLUMNS": "200"}
    )


def timeline(order: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in order["timeline"]]


async def test_a_replayed_payment_event_is_verified_by_the_api_and_answered_as_a_duplicate(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, api_url: str
) -> None:
    order = await place_order(stack.api)
    intent = order["payment"]["payment_intent_id"]
    assert pay(localstripe_url, intent) == "succeeded"
    payload = payment_event(order["id"], intent, event_id=f"evt_{intent}")
    delivered = await post_stripe(stack, payload)
    assert delivered.json() == {"accepted": True, "detail": None}
    paid = await wait_for(stack, order["id"], OrderStatus.ALLOCATED)
    signals = await signals_received(stack, order["id"])
    [original] = log_rows(sessions)

    result = await webhooks("replay", f"evt_{intent}")

    assert result.exit_code == 0, result.output
    out = result.output
    assert f"POST {api_url}/webhooks/payments/stripe HTTP/1.1" in out
    assert "Stripe-Signature: t=" in out
    assert f"Orderflow-Replay-Of: {original.id}" in out
    assert f'"id": "evt_{intent}"' in out  # the body, pretty
    assert "original signature against today's secret: valid signature, 0 minutes old" in out
    assert "HTTP 200 OK" in out
    assert '"detail": "duplicate event"' in out
    # The API took the replay in, checked its fresh signature, and recorded it as a replay.
    _, replayed = await logged(sessions, 2)
    assert (replayed.replay_of, replayed.signature_ok, replayed.status) == (original.id, True, 200)
    assert replayed.body == original.body
    # Deduplication held: no second signal, no second payment step.
    assert await signals_received(stack, order["id"]) == signals
    after = await get_order(stack, order["id"])
    assert timeline(after) == timeline(paid)
    assert timeline(after).count("paid") == 1

    listing = await webhooks("list", "--source", "stripe")
    assert listing.exit_code == 0, listing.output
    assert f"evt_{intent}" in listing.output and f"#{original.id}" in listing.output


async def test_a_replayed_carrier_report_is_verified_and_moves_the_parcel_once(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, api_url: str
) -> None:
    order, [package] = await paid_and_labelled(stack, localstripe_url, lines(TEA_001=1))
    tracking = package["tracking_number"]
    await report(stack, tracking, "picked_up", T0)
    await stamped(stack, order["id"], 1, "picked_up")
    before = await get_order(stack, order["id"])
    [shipment] = shipment_rows(sessions, order["id"])
    recorded = log_rows(sessions)
    [original] = [row for row in recorded if row.source == "carrier:sandbox"]

    result = await webhooks("replay", f"evt-{tracking}-picked_up", "--source", "carrier")

    assert result.exit_code == 0, result.output
    assert f"POST {api_url}/webhooks/carriers/sandbox HTTP/1.1" in result.output
    assert "Carrier-Signature: t=" in result.output
    assert "HTTP 200 OK" in result.output
    replayed = (await logged(sessions, len(recorded) + 1))[-1]
    assert (replayed.source, replayed.replay_of, replayed.signature_ok, replayed.status) == (
        "carrier:sandbox",
        original.id,
        True,
        200,
    )
    await settle(stack)
    [again] = shipment_rows(sessions, order["id"])
    assert (again.status, again.picked_up_at) == (shipment.status, shipment.picked_up_at)
    assert (await get_order(stack, order["id"]))["packages"] == before["packages"]

    # Sent where it does not belong, it is refused there, and the exit code says so.
    astray = await webhooks(
        "replay", f"evt-{tracking}-picked_up", "--target", f"{api_url}/webhooks/payments/stripe"
    )
    assert astray.exit_code == 1, astray.output
    assert "HTTP 400 Bad Request" in astray.output
    assert '"code": "bad_signature"' in astray.output


async def test_an_unknown_event_id_exits_2_naming_the_latest_recorded(
    stack: Stack, cli_settings: None
) -> None:
    known = payment_event(f"web-{new_external_id()}", "pi_none", "evt_known")
    assert (await post_stripe(stack, known)).status_code == 200

    missing = await webhooks("replay", "evt_never_seen")
    assert missing.exit_code == 2, missing.output
    assert "no webhook with event ID 'evt_never_seen'" in missing.output
    assert "evt_known  stripe" in missing.output
    # Recorded, but not from a carrier.
    elsewhere = await webhooks("replay", "evt_known", "--source", "carrier")
    assert elsewhere.exit_code == 2, elsewhere.output


async def test_the_log_tells_an_old_signature_from_a_body_that_no_longer_matches(
    stack: Stack, sessions: SessionFactory, cli_settings: None
) -> None:
    event = json.loads(payment_event(f"web-{new_external_id()}", "pi_none", "evt_late"))
    # The provider's text is shown as it is, never read as console markup or emoji codes.
    event["description"] = "[bold]tea[/bold] :smile:"
    payload = json.dumps(event).encode()
    three_hours_ago = int(time.time()) - 3 * 3600 - 60
    late = await post_stripe(stack, payload, at=three_hours_ago)
    assert late.status_code == 400  # outside the tolerance: refused when it came
    [row] = log_rows(sessions)
    assert (row.signature_ok, row.status) == (False, 400)

    genuine = await webhooks("replay", "evt_late", "--dry-run")
    assert genuine.exit_code == 0, genuine.output
    assert "valid signature, 3 hours old" in genuine.output
    assert "its signature did not check out on arrival" in genuine.output
    assert "dry run: nothing sent" in genuine.output
    assert '"description": "[bold]tea[/bold] :smile:"' in genuine.output
    assert len(log_rows(sessions)) == 1

    with transaction(sessions) as session:
        tampered = row.body.replace(b"pi_none", b"pi_else")
        session.execute(update(WebhookLog).where(WebhookLog.id == row.id).values(body=tampered))
    altered = await webhooks("replay", "evt_late", "--dry-run")
    assert altered.exit_code == 1, altered.output
    assert "original signature against today's secret: does not match the secret" in altered.output
    assert "not sent: the recorded signature does not vouch for this body" in altered.output
    forced = await webhooks("replay", "evt_late", "--dry-run", "--force")
    assert forced.exit_code == 0, forced.output
    assert '"id": "pi_else"' in forced.output  # what would be sent, signed afresh

    nobody = await webhooks(
        "replay", "evt_late", "--force", "--target", f"http://127.0.0.1:{free_port()}/"
    )
    assert nobody.exit_code == 1, nobody.output
    assert "no answer from" in nobody.output


async def test_a_forged_copy_of_a_real_event_is_never_the_one_re_signed(
    stack: Stack, sessions: SessionFactory, cli_settings: None
) -> None:
    genuine = payment_event(f"web-{new_external_id()}", "pi_genuine", "evt_shared")
    assert (await post_stripe(stack, genuine)).status_code == 200
    forged = payment_event(f"web-{new_external_id()}", "pi_forged", "evt_shared")
    refused = await stack.api.post(
        "/webhooks/payments/stripe", content=forged, headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert refused.status_code == 400
    assert len(log_rows(sessions)) == 2  # the forgery is recorded, and newer

    chosen = await webhooks("replay", "evt_shared", "--dry-run")
    assert chosen.exit_code == 0, chosen.output
    assert "pi_genuine" in chosen.output and "pi_forged" not in chosen.output
