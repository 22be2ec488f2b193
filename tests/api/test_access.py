"""Who may call what: every route against every role, and the tokens themselves.

The walk over the app's routes is the proof the issue asks for: a route added without an
entry in api/access.py stops the app from starting, and one whose entry is wrong fails here.
"""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import httpx
import jwt
import pytest
from fastapi.routing import APIRoute

from api.access import ACCESS, Public, routes_of
from api.main import create_app
from api.tokens import create_client, issue
from config.settings import Settings
from domain.access import Role
from store.db import SessionFactory
from tests.conftest import Stack, bearer
from tests.helpers import order_body, place_order

EXAMPLE_PATH_VALUES = {
    "order_id": "web-NOPE",
    "alert_id": "1",
    "carrier": "sandbox",
    "export_id": "exp_NOPE",
    "number": "1",
}

# What a caller without any token can reach. Growing this list is a decision, made here.
ANONYMOUS = {
    "GET /healthz",
    "GET /metrics",
    "POST /oauth/token",
    "POST /webhooks/payments/stripe",
    "POST /webhooks/carriers/{carrier}",
    "OPTIONS /codec/encode",
    "OPTIONS /codec/decode",
}


def concrete(path: str) -> str:
    for name, value in EXAMPLE_PATH_VALUES.items():
        path = path.replace(f"{{{name}}}", value)
    return path


async def call(stack: Stack, key: str, headers: dict[str, str] | None = None) -> httpx.Response:
    method, path = key.split(" ", 1)
    # A client without the stack's default admin token.
    async with httpx.AsyncClient(
        transport=stack.api._transport, base_url=str(stack.api.base_url)
    ) as client:
        return await client.request(method, concrete(path), json={}, headers=headers or {})


def test_every_route_declares_who_may_call_it(settings: Settings) -> None:
    app = create_app(settings)
    served = {key for key, _ in routes_of(app)}
    assert served == set(ACCESS), "api/access.py and the app's routes disagree"
    assert {key for key, access in ACCESS.items() if isinstance(access, Public)} == ANONYMOUS


def test_a_route_without_a_declared_role_stops_the_app(settings: Settings) -> None:
    from api.routes import orders

    route = APIRoute("/orders/{order_id}/undeclared", lambda: None, methods=["POST"])
    orders.router.routes.append(route)
    try:
        with pytest.raises(RuntimeError, match="without a declared role"):
            create_app(settings)
    finally:
        orders.router.routes.remove(route)


async def test_each_route_refuses_every_role_it_does_not_list_and_callers_without_a_token(
    stack: Stack,
) -> None:
    tokens = {role: stack.as_role(role) for role in Role}
    wrong: list[str] = []
    for key, access in sorted(ACCESS.items()):
        if isinstance(access, Public):
            continue
        anonymous = await call(stack, key)
        if anonymous.status_code != 401 or anonymous.json()["error"]["code"] != "unauthenticated":
            wrong.append(f"{key} without a token: {anonymous.status_code}")
        elif "Bearer" not in anonymous.headers.get("WWW-Authenticate", ""):
            wrong.append(f"{key} without a token: no WWW-Authenticate")
        for role, headers in tokens.items():
            response = await call(stack, key, headers)
            if role in access and response.status_code in (401, 403):
                wrong.append(f"{key} as {role}: refused ({response.status_code})")
            if role not in access and response.status_code != 403:
                wrong.append(f"{key} as {role}: {response.status_code}, not 403")
    assert wrong == []


async def test_the_spec_declares_the_bearer_scheme_on_every_protected_operation(
    stack: Stack,
) -> None:
    spec = (await stack.api.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            key = f"{method.upper()} {path}"
            protected = not isinstance(ACCESS[key], Public)
            assert ("security" in operation) == protected, key
            if protected:
                assert {"401", "403"} <= set(operation["responses"]), key


# --- tokens -----------------------------------------------------------------------------------


def forged(settings: Settings, **claims: object) -> str:
    now = int(time.time())
    body: dict[str, object] = {
        "iss": "orderflow",
        "sub": "mallory",
        "role": "admin",
        "jti": "f" * 32,
        "iat": now,
        "exp": now + 600,
    } | claims
    key = settings.auth_signing_keys[settings.auth_key_id]
    return jwt.encode(body, key, algorithm="HS256", headers={"kid": settings.auth_key_id})


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b.c",
        jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "dev-1"}),
        jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256", headers={"kid": "nobody's"}),
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJtYWxsb3J5Iiwicm9sZSI6ImFkbWluIn0.",
    ],
    ids=["garbage", "three-dots", "wrong-key", "unknown-kid", "alg-none"],
)
async def test_tokens_that_are_not_ours_are_refused(stack: Stack, token: str) -> None:
    response = await call(stack, "GET /orders", {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthenticated"


async def test_expired_and_malformed_claims_are_refused(stack: Stack) -> None:
    settings = stack.settings
    for token in (
        forged(settings, exp=int(time.time()) - 60),  # past the 30 s of clock skew allowed
        forged(settings, role="superuser"),
        forged(settings, role="api_client"),  # an API client without its channel
        forged(settings, sub=42),
    ):
        response = await call(stack, "GET /orders", {"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token


async def test_a_revoked_token_is_refused(stack: Stack) -> None:
    issued = issue(
        stack.sessions,
        stack.settings,
        role=Role.SUPPORT,
        subject="temp-support",
        ttl=timedelta(hours=72),
        issued_by="tests",
    )
    headers = {"Authorization": f"Bearer {issued.token}"}
    assert (await call(stack, "GET /orders", headers)).status_code == 200
    from store.access import AccessRepository
    from store.db import transaction
    from store.models import utcnow

    with transaction(stack.sessions) as session:
        assert AccessRepository(session).revoke_token(issued.token_id, at=utcnow())
    refused = await call(stack, "GET /orders", headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


async def test_a_retired_signing_key_stops_its_tokens_and_the_new_one_signs(
    stack: Stack, sessions: SessionFactory
) -> None:
    old = stack.as_role(Role.SUPPORT)
    rotated = stack.settings.model_copy(
        update={
            "auth_signing_keys": {
                **stack.settings.auth_signing_keys,
                "k2": "a-second-signing-key-of-enough-length",
            },
            "auth_key_id": "k2",
        }
    )
    new = bearer(sessions, rotated, Role.SUPPORT)
    assert jwt.get_unverified_header(new["Authorization"][7:])["kid"] == "k2"
    app = create_app(rotated, client=stack.client, sessions=sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as api:
            assert (await api.get("/orders", headers=old)).status_code == 200
            assert (await api.get("/orders", headers=new)).status_code == 200
    retired = rotated.model_copy(
        update={"auth_signing_keys": {"k2": rotated.auth_signing_keys["k2"]}}
    )
    app = create_app(retired, client=stack.client, sessions=sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as api:
            assert (await api.get("/orders", headers=old)).status_code == 401
            assert (await api.get("/orders", headers=new)).status_code == 200


async def test_an_api_client_trades_its_credentials_for_a_token_of_its_channel(
    stack: Stack,
) -> None:
    credentials = create_client(stack.sessions, name="Web shop", channel="web")
    form = {
        "grant_type": "client_credentials",
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
    }
    answer = await call_form(stack, form)
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 3600
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    placed = await stack.api.post("/orders", json=order_body(), headers=headers)
    assert placed.status_code == 201, placed.text
    other_channel = await stack.api.post(
        "/orders", json=order_body(channel="tmall"), headers=headers
    )
    assert other_channel.status_code == 403

    wrong_secret = await call_form(stack, form | {"client_secret": "guess"})
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"]["code"] == "invalid_client"
    assert (await call_form(stack, form | {"grant_type": "password"})).status_code == 422

    from store.access import AccessRepository
    from store.db import transaction
    from store.models import utcnow

    with transaction(stack.sessions) as session:
        AccessRepository(session).revoke_client(credentials.client_id, at=utcnow())
    assert (await call_form(stack, form)).status_code == 401
    assert (await stack.api.get("/orders", headers=headers)).status_code == 401


async def test_a_client_id_no_client_can_have_is_refused_not_looked_up(stack: Stack) -> None:
    # Found by the fuzz test: on PostgreSQL a NUL in the ID failed the query with a 500.
    form = {"grant_type": "client_credentials", "client_id": "web\x00", "client_secret": "s"}
    refused = await call_form(stack, form)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"][0]["field"] == "client_id"


async def call_form(stack: Stack, form: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=stack.api._transport, base_url=str(stack.api.base_url)
    ) as client:
        return await client.post("/oauth/token", data=form)


# --- scope: whose orders ----------------------------------------------------------------------


async def test_a_customer_sees_and_changes_only_their_own_orders(stack: Stack) -> None:
    mine = await place_order(stack.api)  # customer c-42
    theirs = await place_order(
        stack.api, customer={"id": "c-7", "email": "c7@example.com", "name": "Other"}
    )
    me = stack.as_role(Role.CUSTOMER, subject="c-42")

    assert (await stack.api.get(f"/orders/{mine['id']}", headers=me)).status_code == 200
    for attempt in (
        stack.api.get(f"/orders/{theirs['id']}", headers=me),
        stack.api.post(f"/orders/{theirs['id']}/cancel", json={"reason": "x"}, headers=me),
        stack.api.post(f"/orders/{theirs['id']}/confirm-receipt", json={}, headers=me),
    ):
        response = await attempt
        assert response.status_code == 404, response.text  # not even whether it exists

    listed = (await stack.api.get("/orders", headers=me)).json()["items"]
    assert [o["id"] for o in listed] == [mine["id"]]
    assert (await stack.api.get("/orders?customer_id=c-7", headers=me)).status_code == 403

    cancelled = await stack.api.post(
        f"/orders/{mine['id']}/cancel", json={"reason": "changed my mind"}, headers=me
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["timeline"][-1]["note"] == (
        "cancelled before payment: changed my mind (by customer:c-42)"
    )


async def test_an_api_client_reads_only_its_channels_orders(stack: Stack) -> None:
    web = await place_order(stack.api)
    tmall = await place_order(stack.api, channel="tmall")
    shop = stack.as_role(Role.API_CLIENT, channel="web")
    assert (await stack.api.get(f"/orders/{web['id']}", headers=shop)).status_code == 200
    assert (await stack.api.get(f"/orders/{tmall['id']}", headers=shop)).status_code == 404
    listed = (await stack.api.get("/orders", headers=shop)).json()["items"]
    assert {o["channel"] for o in listed} == {"web"}


# --- personal data by role --------------------------------------------------------------------


async def test_personal_data_is_masked_by_role(stack: Stack) -> None:
    order = await place_order(stack.api)
    path = f"/orders/{order['id']}"

    async def seen_by(role: Role, subject: str | None = None) -> dict:
        response = await stack.api.get(path, headers=stack.as_role(role, subject))
        assert response.status_code == 200, response.text
        return response.json()

    customer = await seen_by(Role.CUSTOMER, "c-42")
    assert customer["customer"]["email"] == "li.na@example.com"
    assert customer["shipping_address"]["phone"] == "+86 138 0000 0000"
    assert customer["payment"]["client_secret"]

    support = await seen_by(Role.SUPPORT)
    assert support["shipping_address"]["phone"] == "*** 0000"
    assert support["shipping_address"]["line1"] == "1 Wensan Rd"
    assert support["customer"]["email"] == "l***@example.com"
    assert support["payment"]["client_secret"] is None

    finance = await seen_by(Role.FINANCE)
    assert finance["shipping_address"] is None
    assert finance["customer"]["email"] == "l***@example.com"
    assert finance["payment"]["client_secret"] is None
    assert finance["payment"]["amount"] == order["total"]


async def test_an_order_never_overwrites_a_customers_contact_details(stack: Stack) -> None:
    await place_order(stack.api)  # c-42 is li.na@example.com
    mallory = {"id": "c-42", "email": "mallory@evil.example", "name": "Mallory"}
    await place_order(stack.api, customer=mallory)
    me = stack.as_role(Role.CUSTOMER, subject="c-42")
    order = (await stack.api.get("/orders", headers=me)).json()["items"][0]
    seen = (await stack.api.get(f"/orders/{order['id']}", headers=me)).json()
    assert seen["customer"] == {"id": "c-42", "email": "li.na@example.com", "name": "Li Na"}

    changed = await stack.api.put(
        "/customers/me", json={"email": "li.na@new.example", "name": "Li Na"}, headers=me
    )
    assert changed.status_code == 200, changed.text
    seen = (await stack.api.get(f"/orders/{order['id']}", headers=me)).json()
    assert seen["customer"]["email"] == "li.na@new.example"

    # A storefront naming the same customer ID learns nothing of the customer's details.
    shop = stack.as_role(Role.API_CLIENT, channel="web")
    placed = await stack.api.post(
        "/orders",
        json=order_body(customer={"id": "c-42", "email": "probe@evil.example", "name": "P"}),
        headers=shop,
    )
    assert placed.status_code == 201, placed.text
    probed = (await stack.api.get(f"/orders/{placed.json()['id']}", headers=shop)).json()
    assert probed["customer"] == {"id": "c-42", "email": None, "name": None}
    assert probed["shipping_address"]["line1"] == "1 Wensan Rd"  # the order's own address

    stranger = stack.as_role(Role.CUSTOMER, subject="c-never-ordered")
    missing = await stack.api.put(
        "/customers/me", json={"email": "x@example.com", "name": "X"}, headers=stranger
    )
    assert missing.status_code == 404


async def test_who_confirmed_receipt_comes_from_the_token_not_the_body(stack: Stack) -> None:
    order = await place_order(stack.api)
    me = stack.as_role(Role.CUSTOMER, subject="c-42")
    spoofed = await stack.api.post(
        f"/orders/{order['id']}/confirm-receipt", json={"by": "mallory"}, headers=me
    )
    assert spoofed.status_code == 422  # nobody names themselves


async def test_alerts_are_closed_by_the_role_they_are_addressed_to(stack: Stack) -> None:
    from domain.contract import AlertKind, AlertLevel, AlertRole
    from store.db import transaction
    from store.repositories import AlertRepository

    with transaction(stack.sessions) as session:
        AlertRepository(session).raise_once(
            key="test:warehouse",
            kind=AlertKind.LOW_STOCK,
            level=AlertLevel.YELLOW,
            subject="TEA-001",
            message="low",
            role=AlertRole.WAREHOUSE,
        )
    alert_id = (await stack.api.get("/alerts")).json()["items"][0]["id"]
    listed = {
        role: (await stack.api.get("/alerts", headers=stack.as_role(role))).json()["items"]
        for role in (Role.SUPPORT, Role.WAREHOUSE)
    }
    assert (listed[Role.SUPPORT], [a["id"] for a in listed[Role.WAREHOUSE]]) == ([], [alert_id])
    path = f"/alerts/{alert_id}/resolve"
    support = await stack.api.post(path, headers=stack.as_role(Role.SUPPORT))
    assert support.status_code == 403
    warehouse = await stack.api.post(path, headers=stack.as_role(Role.WAREHOUSE))
    assert warehouse.status_code == 200 and warehouse.json()["resolved_at"]


def test_the_role_table_in_the_docs_is_the_one_enforced() -> None:
    from pathlib import Path

    documented = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    roles = list(Role)
    rows = ["| route | " + " | ".join(r.value for r in roles) + " |", "|---|" + "---|" * len(roles)]
    for key, access in ACCESS.items():
        if isinstance(access, Public):
            rows.append(f"| `{key}` | anyone: {access.because} |" + " |" * (len(roles) - 1))
        else:
            marks = " | ".join("yes" if r in access else "" for r in roles)
            rows.append(f"| `{key}` | {marks} |")
    assert "\n".join(rows) in documented, "regenerate the table in docs/security.md"


async def test_docs_and_metrics_are_behind_settings(stack: Stack, sessions: SessionFactory) -> None:
    hidden = stack.settings.model_copy(update={"expose_docs": False, "expose_metrics": False})
    assert not Settings(environment="production", **_production_secrets()).docs_exposed
    app = create_app(hidden, client=stack.client, sessions=sessions)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as api:
            for path in ("/docs", "/redoc", "/openapi.json", "/metrics"):
                assert (await api.get(path)).status_code == 404, path
            assert (await api.get("/healthz")).status_code in (200, 503)


def _production_secrets() -> dict[str, object]:
    return {
        "stripe_api_key": "sk_live_x",
        "stripe_webhook_secret": "whsec_x",
        "notification_webhook_secret": "whsec_y",
        "carrier_webhook_secret": "whsec_z",
        "auth_signing_keys": {"p1": "p" * 40},
        "auth_key_id": "p1",
        "encryption_keys": {"e1": base64.b64encode(b"e" * 32).decode()},
        "encryption_key_id": "e1",
    }


async def test_a_token_from_a_clock_a_little_ahead_is_good(stack: Stack) -> None:
    ahead = forged(stack.settings, iat=int(time.time()) + 10)
    response = await call(stack, "GET /products", {"Authorization": f"Bearer {ahead}"})
    assert response.status_code == 200, response.text


def test_production_refuses_to_trust_a_local_ui() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="development only"):
        Settings(environment="production", codec_trusts_local_ui=True, **_production_secrets())
