"""Schemathesis on the real stack: every operation of /openapi.json, as every role and as a
caller without a token, answers no 5xx, and only the statuses, content types, headers and
bodies the document names (``api/openapi.py``).

Each operation gets schemathesis's coverage cases (fixed: bounds, missing and mistyped
values) and ``ORDERFLOW_FUZZ_EXAMPLES`` fuzzed ones from ``ORDERFLOW_FUZZ_SEED`` (fixed
unless given, so a run repeats; ``random`` draws one). `make fuzz` runs many more.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from schemathesis import APIOperation, Case

from api.access import ACCESS, Public
from api.routes.webhooks import PAYMENT_EVENTS
from domain.access import Role
from domain.contract import AlertKind, AlertLevel, AlertRole
from store.db import transaction
from store.repositories import AlertRepository
from tests.api.fuzzing import (
    COVERAGE,
    FUZZING,
    SIGNED,
    Run,
    Send,
    client_for,
    coverage_cases,
    fuzzing,
    has_inputs,
    sender,
)
from tests.conftest import Stack
from tests.helpers import place_order

EXAMPLES = int(os.environ.get("ORDERFLOW_FUZZ_EXAMPLES", "4"))
_seed = os.environ.get("ORDERFLOW_FUZZ_SEED", "20240601")
SEED = random.randrange(2**32) if _seed == "random" else int(_seed)

ANONYMOUS = "anonymous"
CALLERS = [ANONYMOUS, *(role.value for role in Role)]
CUSTOMER = "c-fuzz"
CHANNEL = "default"  # the channel tests.conftest.bearer gives an API client
FUZZ_ALERT = "raised for the fuzz test"

# Findings whose fix is under way elsewhere, by (operation, problem, status), each with why.
# An entry goes once the fix is in.
KNOWN_FINDINGS: dict[tuple[str, str, int], str] = {}


# Once per CI, on the stricter database (NUL bytes, lengths); `make fuzz` runs it on any.
@pytest.mark.one_database("postgresql")
async def test_every_operation_as_every_caller_answers_as_documented(stack: Stack) -> None:
    print(f"\nfuzz: seed {SEED} (ORDERFLOW_FUZZ_SEED), {EXAMPLES} examples an operation a caller")
    known = await known_values(stack)
    schema = schemathesis.openapi.from_dict((await stack.api.get("/openapi.json")).json())
    operations = [result.ok() for result in schema.get_all_operations()]
    run = Run()
    started = time.monotonic()
    async with client_for(stack.api) as client:
        secrets = {
            "Stripe-Signature": stack.settings.stripe_webhook_secret,
            "Carrier-Signature": stack.settings.carrier_webhook_secret,
        }
        send = sender(client, asyncio.get_running_loop(), secrets)
        for caller in CALLERS:
            headers = caller_headers(stack, caller)
            for operation in operations:
                await asyncio.to_thread(exercise, operation, caller, headers, send, known, run)
    print(f"fuzz: {sum(run.sent.values())} requests in {time.monotonic() - started:.0f} s")
    for (label, status), count in sorted(run.statuses.items()):
        print(f"  {label:45} {status}: {count}")
    for finding in run.findings.values():
        print(f"fuzz finding: {finding}")

    labels = {operation.label for operation in operations}
    assert len(labels) >= 18 and labels == {label for label, _, _ in run.sent}
    for operation in operations:
        least = EXAMPLES if has_inputs(operation) else 1
        for caller in CALLERS:
            covered = run.sent[operation.label, caller, COVERAGE]
            assert covered >= 1 or not admitted(operation.label, caller), (operation.label, caller)
            assert run.sent[operation.label, caller, FUZZING] >= least, (operation.label, caller)
    new = [f for key, f in run.findings.items() if key not in KNOWN_FINDINGS]
    assert not new, f"seed {SEED}:\n" + "\n".join(str(finding) for finding in new)


def exercise(
    operation: APIOperation,
    caller: str,
    headers: dict[str, str],
    send: Send,
    known: dict[str, list[Any]],
    run: Run,
) -> None:
    """The operation's coverage cases if the caller may call it (a caller it refuses meets
    401 or 403 whatever the case), then its fuzzed ones, as this caller."""

    def each(case: Case, phase: str) -> None:
        run.check(case, caller, phase, send(case, headers), headers)

    if admitted(operation.label, caller):
        for case in coverage_cases(operation):
            each(case, COVERAGE)
    fuzz = fuzzing(
        operation, examples=EXAMPLES, seed=SEED, known=known, each=lambda c: each(c, FUZZING)
    )
    fuzz()


def admitted(label: str, caller: str) -> bool:
    access = ACCESS[label]
    return isinstance(access, Public) or (caller != ANONYMOUS and Role(caller) in access)


def caller_headers(stack: Stack, caller: str) -> dict[str, str]:
    if caller == ANONYMOUS:
        return {}
    role = Role(caller)
    return stack.as_role(role, subject=CUSTOMER if role is Role.CUSTOMER else None)


async def known_values(stack: Stack) -> dict[str, list[Any]]:
    """Values that name something that exists, by the parameter or property they fill: two
    orders the customer and the API client may see, an alert for each role, the catalog,
    valid webhook signatures."""
    customer = {"id": CUSTOMER, "email": "fuzz@example.com", "name": "Fuzz"}
    orders = [
        (await place_order(stack.api, channel=CHANNEL, customer=customer))["id"] for _ in range(2)
    ]
    with transaction(stack.sessions) as session:
        for role in AlertRole:
            AlertRepository(session).raise_once(
                key=f"fuzz:{role.value}",
                kind=AlertKind.LOW_STOCK,
                level=AlertLevel.YELLOW,
                subject="TEA-001",
                message=FUZZ_ALERT,
                role=role,
            )
    # Only the alerts raised here: how many the orders' workflows raised meanwhile varies,
    # and the draws that follow would with it.
    listed = (await stack.api.get("/alerts")).json()["items"]
    alerts = [alert["id"] for alert in listed if alert["message"] == FUZZ_ALERT]
    exports = [await requested_export(stack) for _ in range(2)]
    approver = stack.as_role(Role.ADMIN, subject="fuzz-approver")
    approved = await stack.api.post(f"/exports/{exports[0]}/approve", headers=approver)
    assert approved.status_code == 200, approved.text
    skus = [product["sku"] for product in (await stack.api.get("/products")).json()]
    return {
        "order_id": orders,
        "alert_id": alerts,
        "carrier": ["sandbox"],
        "sku": skus,
        "channel": [CHANNEL],
        "customer_id": [CUSTOMER],
        "export_id": exports,  # one approved, one waiting
        "number": [1],
        "package": [1],
        "quantity": [1, 2],
        # Webhooks: signed as their senders sign them, about payments of our orders.
        "Stripe-Signature": [SIGNED],
        "Carrier-Signature": [SIGNED],
        "type": sorted(PAYMENT_EVENTS),
        "metadata": [{"order_id": order} for order in orders],
    }


async def requested_export(stack: Stack) -> str:
    now = datetime.now(UTC)
    span = {"created_from": (now - timedelta(days=1)).isoformat(), "created_until": now.isoformat()}
    response = await stack.api.post("/exports", json=span, headers=stack.as_role(Role.FINANCE))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
