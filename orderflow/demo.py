"""``orderflow demo``: one order through its whole life, as a client and a shopper would do it."""

from __future__ import annotations

import time
import uuid

import httpx
from rich.console import Console

from config.settings import Settings
from domain.money import format_amount
from orderflow.credentials import tool_headers
from orderflow.customer import pay_with_card

console = Console()


def demo_order(customer_id: str = "c-42") -> dict[str, object]:
    return {
        "channel": "web",
        "external_id": f"DEMO-{uuid.uuid4().hex[:8].upper()}",
        "customer": {"id": customer_id, "email": "li.na@example.com", "name": "Li Na"},
        "shipping_address": {
            "name": "Li Na", "phone": "+86 138 0000 0000", "line1": "1 Wensan Rd",
            "city": "Hangzhou", "province": "Zhejiang", "postal_code": "310000",
            "country": "CN", "lat": 30.27, "lon": 120.15,
        },
        "lines": [{"sku": "TEA-001", "quantity": 2}, {"sku": "CUP-002", "quantity": 1}],
    }  # fmt: skip


def run_demo(settings: Settings, *, timeout: float = 120.0) -> int:
    api = httpx.Client(base_url=settings.public_api_url, timeout=30)
    try:
        api.get("/healthz").raise_for_status()
        api.headers.update(tool_headers(settings, "orderflow-demo"))
    except httpx.HTTPError:
        console.print(
            f"[red]no orderflow API at {settings.public_api_url}; start it with 'make run'"
        )
        return 1

    response = api.post(
        "/orders", json=demo_order(), headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    if response.status_code != 201:
        console.print(f"[red]order refused: {response.status_code} {response.text}")
        return 1
    order = response.json()
    order_id, intent = order["id"], order["payment"]["payment_intent_id"]
    console.print(
        f"placed order [bold]{order_id}[/bold]: {format_amount(order['total'], order['currency'])}"
    )
    console.print(
        f"watch it in the Temporal UI: {settings.temporal_ui_url}/namespaces/"
        f"{settings.temporal_namespace}/workflows/order-{order_id}"
    )

    status = pay_with_card(
        api_key=settings.stripe_api_key, api_base=settings.stripe_api_base, payment_intent_id=intent
    )
    console.print(f"paid {intent} with a test card: {status}")
    return _follow(api, order_id, timeout)


def _follow(api: httpx.Client, order_id: str, timeout: float) -> int:
    """Print each new state and each parcel's progress; the sandbox carrier moves the parcels
    by itself (``orderflow dev``), so nobody has to play the carrier."""
    seen: set[tuple[str, ...]] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order = api.get(f"/orders/{order_id}").json()
        for entry in order["timeline"]:
            _print_once(seen, (entry["at"], entry["status"], entry["note"] or ""))
        for package in order["packages"]:
            for stage, at in package.get("stages", {}).items():
                where = f"package {package['number']} {package.get('tracking_number') or ''}"
                _print_once(seen, (at, f"  {stage}", where))
        if order["status"] in ("completed", "cancelled", "on_hold"):
            return 0 if order["status"] == "completed" else 1
        time.sleep(0.5)
    console.print(f"[red]order {order_id} did not complete within {timeout:.0f}s")
    return 1


def _print_once(seen: set[tuple[str, ...]], line: tuple[str, str, str]) -> None:
    if line in seen:
        return
    seen.add(line)
    at, what, note = line
    console.print(f"  {at}  [cyan]{what:<18}[/cyan] {note}")
