"""The codec server the Temporal UI and CLI read sealed payloads through: what it seals it
opens, it opens the payloads of a real history, and only the UI's origin may call it from
a browser."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format

from config.settings import Settings
from domain.contract import order_workflow_id
from tests.conftest import KEYRING, Stack
from tests.helpers import order_body

UI_ORIGIN = "http://127.0.0.1:8233"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def json_payload(value: object) -> dict[str, Any]:
    return {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(json.dumps(value).encode())}


async def codec(stack: Stack, action: str, payloads: list[dict[str, Any]], **headers: str) -> Any:
    response = await stack.api.post(
        f"/codec/{action}",
        json={"payloads": payloads},
        headers={"X-Namespace": "default", **headers},
    )
    assert response.status_code == 200, response.text
    return response.json()["payloads"]


async def test_what_it_seals_it_opens(stack: Stack) -> None:
    original = [json_payload({"reason": "Li Na moved"}), json_payload("second")]
    sealed = await codec(stack, "encode", original)
    assert [p["metadata"]["encoding"] for p in sealed] == [b64(b"binary/encrypted")] * 2
    assert sealed[0]["metadata"]["encryption-key-id"] == b64(KEYRING.current.encode())
    assert "Li Na" not in base64.b64decode(sealed[0]["data"]).decode(errors="replace")
    assert await codec(stack, "decode", sealed) == original
    # A payload it did not seal comes back as it was.
    assert await codec(stack, "decode", original) == original


async def test_it_opens_the_input_of_a_real_orders_history(stack: Stack) -> None:
    body = order_body(customer={"id": "c-codec-1", "email": "li.na@example.com", "name": "Li Na"})
    placed = await stack.api.post("/orders", json=body)
    assert placed.status_code == 201, placed.text
    handle = stack.client.get_workflow_handle(order_workflow_id(placed.json()["id"]))
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    (payload,) = started.input.payloads
    assert b"c-codec-1" not in payload.data

    (opened,) = await codec(stack, "decode", [json_format.MessageToDict(payload)], Origin=UI_ORIGIN)
    order_input = json.loads(base64.b64decode(opened["data"]))
    assert order_input["customer_id"] == "c-codec-1"


async def test_the_temporal_ui_may_call_it_from_the_browser(
    stack: Stack, settings: Settings
) -> None:
    assert settings.temporal_ui_url == UI_ORIGIN
    preflight = await stack.api.options(
        "/codec/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
        },
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = {
        h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"content-type", "x-namespace", "authorization"} <= allowed

    response = await stack.api.post(
        "/codec/encode",
        json={"payloads": [json_payload(1)]},
        headers={"Origin": UI_ORIGIN, "X-Namespace": "default"},
    )
    assert response.headers["Access-Control-Allow-Origin"] == UI_ORIGIN


async def test_other_origins_namespaces_and_broken_payloads_are_refused(stack: Stack) -> None:
    elsewhere = await stack.api.options(
        "/codec/decode",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert elsewhere.status_code == 403
    assert "Access-Control-Allow-Origin" not in elsewhere.headers
    posted = await stack.api.post(
        "/codec/decode",
        json={"payloads": [json_payload(1)]},
        headers={"Origin": "https://evil.example"},
    )
    assert "Access-Control-Allow-Origin" not in posted.headers

    other = await stack.api.post(
        "/codec/decode", json={"payloads": []}, headers={"X-Namespace": "someone-else"}
    )
    assert other.status_code == 400

    (sealed,) = await codec(stack, "encode", [json_payload("x")])
    data = bytearray(base64.b64decode(sealed["data"]))
    data[-1] ^= 1
    tampered = await stack.api.post(
        "/codec/decode", json={"payloads": [{**sealed, "data": b64(bytes(data))}]}
    )
    assert tampered.status_code == 400
    assert tampered.json()["error"]["code"] == "invalid_request"


async def test_the_dev_stacks_ui_reads_payloads_without_a_token_and_nobody_else_does(
    stack: Stack,
) -> None:
    import httpx

    from api.main import create_app

    sealed = await codec(stack, "encode", [json_payload({"reason": "moved"})])
    body = {"payloads": sealed}

    async def decode(settings: Settings, origin: str) -> int:
        app = create_app(settings, client=stack.client, sessions=stack.sessions)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)  # a caller on this machine
            async with httpx.AsyncClient(transport=transport, base_url="http://o") as bare:
                response = await bare.post(
                    "/codec/decode", json=body, headers={"X-Namespace": "default", "Origin": origin}
                )
                return response.status_code

    trusting = stack.settings.model_copy(update={"codec_trusts_local_ui": True})
    ui = trusting.temporal_ui_url
    assert await decode(trusting, ui) == 200
    assert await decode(trusting, "http://evil.example") == 401
    assert await decode(stack.settings, ui) == 401  # off unless `orderflow dev` turns it on
