"""The audit log through the API: a row for every call that changes something (refused ones
too) and for every read of personal data, written even when the route fails; and
``GET /audit`` for admins, with filters and cursors that hostile input can't break."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from domain.access import Role
from store.audit_log import AuditLogRepository
from tests.api.audit_support import audit_rows
from tests.conftest import Stack
from tests.helpers import place_order

CANCEL = "POST /orders/{order_id}/cancel"
READ_ORDER = "GET /orders/{order_id}"


def someone(role: str) -> str:
    return f"{role}-{uuid.uuid4().hex[:8]}"


async def test_a_change_is_recorded_with_who_what_which_order_where_and_how_it_ended(
    stack: Stack,
) -> None:
    order = await place_order(stack.api)
    support = someone("support")
    cancelled = await stack.api.post(
        f"/orders/{order['id']}/cancel",
        json={"reason": "customer called"},
        headers=stack.as_role(Role.SUPPORT, support) | {"X-Request-ID": "req-cancel-1"},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.headers["X-Request-ID"] == "req-cancel-1"

    (row,) = await audit_rows(stack, actor=f"support:{support}")
    assert row["role"] == "support"
    assert row["action"] == CANCEL
    assert row["path"] == f"/orders/{order['id']}/cancel"
    assert row["order_id"] == order["id"]
    assert row["outcome"] == 200
    assert row["request_id"] == "req-cancel-1"
    assert row["client_ip"] == "127.0.0.1"
    assert datetime.fromisoformat(row["at"]) > datetime.now(UTC) - timedelta(minutes=1)


async def test_intake_records_the_order_it_created(stack: Stack) -> None:
    order = await place_order(stack.api)
    (row,) = await audit_rows(stack, order_id=order["id"], action="POST /orders")
    assert (row["actor"], row["outcome"]) == ("admin:test-admin", 201)
    assert row["request_id"]  # made up when the caller sent none


async def test_refused_attempts_are_recorded_with_whoever_tried(stack: Stack) -> None:
    order = await place_order(stack.api)
    path = f"/orders/{order['id']}/cancel"
    warehouse, stranger = someone("warehouse"), someone("c")
    anonymous_id = uuid.uuid4().hex
    async with httpx.AsyncClient(
        transport=stack.api._transport, base_url=str(stack.api.base_url)
    ) as bare:
        nobody = await bare.post(path, json={"reason": "x"}, headers={"X-Request-ID": anonymous_id})
    wrong_role = await stack.api.post(
        path, json={"reason": "x"}, headers=stack.as_role(Role.WAREHOUSE, warehouse)
    )
    not_theirs = await stack.api.post(
        path, json={"reason": "x"}, headers=stack.as_role(Role.CUSTOMER, stranger)
    )
    assert (nobody.status_code, wrong_role.status_code, not_theirs.status_code) == (401, 403, 404)

    by_request = await audit_rows(stack, action=CANCEL, actor="anonymous")
    assert [r["outcome"] for r in by_request if r["request_id"] == anonymous_id] == [401]
    (refused,) = await audit_rows(stack, actor=f"warehouse:{warehouse}")
    assert (refused["role"], refused["outcome"], refused["order_id"]) == (
        "warehouse",
        403,
        order["id"],
    )
    (missing,) = await audit_rows(stack, actor=f"customer:{stranger}")
    assert missing["outcome"] == 404


async def test_reads_of_personal_data_are_recorded_and_other_reads_are_not(stack: Stack) -> None:
    order = await place_order(stack.api)
    reader = someone("finance")
    headers = stack.as_role(Role.FINANCE, reader)
    assert (await stack.api.get(f"/orders/{order['id']}", headers=headers)).status_code == 200
    assert (await stack.api.get("/orders", headers=headers)).status_code == 200
    assert (await stack.api.get("/products", headers=headers)).status_code == 200

    rows = await audit_rows(stack, actor=f"finance:{reader}")
    assert [(r["action"], r["order_id"], r["outcome"]) for r in rows] == [
        (READ_ORDER, order["id"], 200)
    ]


async def test_webhooks_are_recorded_under_their_source_even_when_refused(stack: Stack) -> None:
    request_id = uuid.uuid4().hex
    async with httpx.AsyncClient(
        transport=stack.api._transport, base_url=str(stack.api.base_url)
    ) as bare:
        stripe = await bare.post(
            "/webhooks/payments/stripe", content=b"{}", headers={"X-Request-ID": request_id}
        )
        carrier = await bare.post(
            "/webhooks/carriers/sandbox", content=b"{}", headers={"X-Request-ID": request_id}
        )
    assert (stripe.status_code, carrier.status_code) == (400, 400)
    rows = [r for r in await audit_rows(stack, outcome=400) if r["request_id"] == request_id]
    assert sorted((r["actor"], r["role"], r["action"]) for r in rows) == [
        ("webhook:sandbox", None, "POST /webhooks/carriers/{carrier}"),
        ("webhook:stripe", None, "POST /webhooks/payments/stripe"),
    ]


async def test_a_route_that_fails_is_recorded_as_the_500_it_answered(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routes import orders

    def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(orders, "load_order", broken)
    support = someone("support")
    transport = httpx.ASGITransport(app=stack.api._transport.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://orderflow") as client:
        response = await client.post(
            "/orders/web-X/cancel",
            json={"reason": "x"},
            headers=stack.as_role(Role.SUPPORT, support),
        )
    assert response.status_code == 500
    (row,) = await audit_rows(stack, actor=f"support:{support}")
    assert (row["action"], row["order_id"], row["outcome"]) == (CANCEL, "web-X", 500)


async def test_personal_data_is_not_served_when_its_read_cannot_be_recorded(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = await place_order(stack.api)

    def database_refuses(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(AuditLogRepository, "append", database_refuses)
    read = await stack.api.get(f"/orders/{order['id']}")
    assert read.status_code == 503
    assert read.json()["error"]["code"] == "service_unavailable"
    assert "Li Na" not in read.text
    # A change that happened is answered as it happened (and the failure logged).
    cancelled = await stack.api.post(f"/orders/{order['id']}/cancel", json={"reason": "x"})
    assert cancelled.status_code == 200, cancelled.text


async def test_the_log_pages_newest_first_and_filters(stack: Stack) -> None:
    before = datetime.now(UTC)
    support = someone("support")
    headers = stack.as_role(Role.SUPPORT, support)
    orders = [await place_order(stack.api) for _ in range(3)]
    for order in orders:
        await stack.api.get(f"/orders/{order['id']}", headers=headers)
    await stack.api.post("/orders/web-NOPE/cancel", json={"reason": "x"}, headers=headers)
    actor = f"support:{support}"

    newest_first = [r["order_id"] for r in await audit_rows(stack, actor=actor)]
    assert newest_first == ["web-NOPE", *[o["id"] for o in reversed(orders)]]

    first = (await stack.api.get("/audit", params={"actor": actor, "limit": 2})).json()
    assert [r["order_id"] for r in first["items"]] == newest_first[:2]
    second = (
        await stack.api.get(
            "/audit", params={"actor": actor, "limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    assert [r["order_id"] for r in second["items"]] == newest_first[2:]
    assert second["next_cursor"] is None

    assert [r["outcome"] for r in await audit_rows(stack, actor=actor, outcome=404)] == [404]
    assert len(await audit_rows(stack, actor=actor, action=READ_ORDER)) == 3
    assert len(await audit_rows(stack, actor=actor, order_id=orders[1]["id"])) == 1
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert len(await audit_rows(stack, actor=actor, since=before.isoformat())) == 4
    assert await audit_rows(stack, actor=actor, since=later.isoformat()) == []
    assert await audit_rows(stack, actor=actor, until=before.isoformat()) == []
    # Reading the log is itself recorded.
    assert await audit_rows(stack, actor="admin:test-admin", action="GET /audit")


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "",
        "é",
        _cursor([0]),
        _cursor([-1]),
        _cursor([2**63]),
        _cursor([10**100]),
        _cursor([True]),
        _cursor([1.5]),
        _cursor(["1"]),
        _cursor({"a": 1}),
        _cursor([1, 2]),
        _cursor(None),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_a_cursor_it_did_not_make_is_a_400(stack: Stack, cursor: str) -> None:
    response = await stack.api.get("/audit", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2024-01-01T00:00:00"},  # no zone
        {"until": "yesterday"},
        {"outcome": 99},
        {"outcome": 2**70},
        {"actor": "admin\x00"},
        {"actor": "x" * 201},
        {"limit": 0},
        {"limit": 501},
        {"cursor": "c" * 201},
    ],
)
async def test_filters_out_of_shape_are_refused_not_500(
    stack: Stack, params: dict[str, object]
) -> None:
    response = await stack.api.get("/audit", params=params)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-23:00", "0001-01-01T00:00:00+23:00"])
async def test_times_without_a_utc_equivalent_are_a_400(stack: Stack, at: str) -> None:
    response = await stack.api.get("/audit", params={"since": at})
    assert response.status_code == 400, response.text


async def test_odd_paths_are_recorded_as_a_column_holds_them(stack: Stack) -> None:
    warehouse = someone("warehouse")
    response = await stack.api.post(
        "/orders/web-%00" + "x" * 600 + "/cancel",
        json={"reason": "x"},
        headers=stack.as_role(Role.WAREHOUSE, warehouse),
    )
    assert response.status_code == 403
    (row,) = await audit_rows(stack, actor=f"warehouse:{warehouse}")
    assert "\x00" not in row["path"] and len(row["path"]) == 500
    assert len(row["order_id"]) == 100


def test_only_changes_and_reads_of_personal_data_are_audited() -> None:
    from api.access import ACCESS, Public, audited, personal_data, roles

    assert audited(roles(), "POST") and audited(Public("signed"), "DELETE")
    assert audited(ACCESS["GET /orders/{order_id}"], "GET")
    assert not audited(ACCESS["GET /orders"], "GET")
    # A browser's CORS preflight changes nothing and reads nothing.
    assert not audited(Public("a preflight"), "OPTIONS") and not audited(roles(), "HEAD")
    assert audited(personal_data(roles()), "HEAD")


async def test_a_flood_of_refusals_without_a_token_leaves_only_so_many_rows(
    stack: Stack,
) -> None:
    from api.audit_trail import ANONYMOUS_REFUSALS_BURST

    path = f"/orders/web-FLOOD-{uuid.uuid4().hex[:8]}/cancel"
    async with httpx.AsyncClient(
        transport=stack.api._transport, base_url=str(stack.api.base_url)
    ) as bare:
        for _ in range(ANONYMOUS_REFUSALS_BURST + 40):
            assert (await bare.post(path, json={"reason": "x"})).status_code == 401
    recorded = [r for r in await audit_rows(stack, actor="anonymous") if r["path"] == path]
    # The burst, and perhaps a row or two the trickle allowed meanwhile.
    assert ANONYMOUS_REFUSALS_BURST <= len(recorded) <= ANONYMOUS_REFUSALS_BURST + 5
    # A caller whose token names them is always recorded.
    named = await stack.api.post(path, json={"reason": "x"}, headers=stack.as_role(Role.WAREHOUSE))
    assert named.status_code == 403
    assert [r["outcome"] for r in await audit_rows(stack, actor="warehouse:test-warehouse")][
        :1
    ] == [403]
