"""Exports through the API: finance asks, a different person holding admin approves, the
pages are frozen at approval, served with checksums that verify, and each download audited."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.access import Role
from domain.exports import COLUMNS
from store.db import transaction
from store.models import Refund
from tests.api.audit_support import audit_rows
from tests.conftest import Stack
from tests.helpers import place_order

PAGES = "GET /exports/{export_id}/pages/{number}"


def this_hour(**changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "created_from": (now - timedelta(hours=1)).isoformat(),
        "created_until": (now + timedelta(hours=1)).isoformat(),
        **changes,
    }


async def request_export(stack: Stack, finance: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = await stack.api.post("/exports", json=this_hour(**changes), headers=finance)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/exports/{response.json()['id']}"
    return response.json()


async def approve(stack: Stack, export_id: str, subject: str = "admin-bob") -> dict[str, Any]:
    response = await stack.api.post(
        f"/exports/{export_id}/approve", headers=stack.as_role(Role.ADMIN, subject)
    )
    assert response.status_code == 200, response.text
    return response.json()


def rows_of(body: bytes) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(body.decode("utf-8"), newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


async def test_an_export_is_approved_by_a_second_person_and_served_as_frozen_pages(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("api.export_pages.PAGE_ROWS", 2)
    placed = [await place_order(stack.api) for _ in range(2)]
    placed.append(
        await place_order(
            stack.api,
            channel="tmall",
            customer={"id": "c-sly", "email": "sly@example.com", "name": '=HYPERLINK("x")'},
        )
    )
    with transaction(stack.sessions) as session:
        session.add(
            Refund(
                order_id=placed[0]["id"],
                provider_refund_id="re_test_1",
                provider_payment_id=placed[0]["payment"]["payment_intent_id"],
                amount=150,
                reason="damaged",
            )
        )
    alice = stack.as_role(Role.FINANCE, "alice")
    export = await request_export(stack, alice)
    assert (export["status"], export["requested_by"], export["pages"]) == (
        "pending",
        "finance:alice",
        [],
    )
    first_page = f"/exports/{export['id']}/pages/1"
    assert (await stack.api.get(first_page, headers=alice)).status_code == 409

    # Finance can't release it at all; alice can't, whatever role she holds; bob can.
    approve_path = f"/exports/{export['id']}/approve"
    assert (await stack.api.post(approve_path, headers=alice)).status_code == 403
    own = await stack.api.post(approve_path, headers=stack.as_role(Role.ADMIN, "alice"))
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "second_person_required"
    assert "finance:alice" in own.json()["error"]["message"]
    shouting = await stack.api.post(approve_path, headers=stack.as_role(Role.ADMIN, " ALICE"))
    assert shouting.status_code == 403  # the same person, whatever the case
    released = await approve(stack, export["id"])
    assert released["status"] == "ready" and released["approved_by"] == "admin:admin-bob"
    assert released["rows"] == 3 and [p["rows"] for p in released["pages"]] == [2, 1]
    again = await stack.api.post(approve_path, headers=stack.as_role(Role.ADMIN, "carol"))
    assert again.status_code == 409

    bodies = []
    for listed in released["pages"]:
        page = await stack.api.get(listed["href"], headers=alice)
        assert page.status_code == 200, page.text
        assert page.headers["content-type"] == "text/csv; charset=utf-8"
        assert hashlib.sha256(page.content).hexdigest() == listed["sha256"]
        assert page.headers["ETag"] == f'"{listed["sha256"]}"'
        bodies.append(page.content)
    assert hashlib.sha256(b"".join(bodies)).hexdigest() == released["sha256"]

    rows = [row for body in bodies for row in rows_of(body)]
    assert [r["order_id"] for r in rows] == [o["id"] for o in placed]  # oldest first
    first, _, sly = rows
    assert first["customer_email"] == "l***@example.com"  # finance's view
    assert (first["refunded"], first["total"]) == ("150", str(placed[0]["total"]))
    assert first["payment_intent_id"] == placed[0]["payment"]["payment_intent_id"]
    assert sly["customer_name"] == '\'=HYPERLINK("x")'  # never a formula in a spreadsheet
    # Neither the address nor the phone (a bare "138" may turn up in a time or an ID).
    assert b"Wensan" not in b"".join(bodies) and b"138 0000 0000" not in b"".join(bodies)

    # Frozen: a later order in the range changes nothing already released.
    await place_order(stack.api)
    assert (await stack.api.get(first_page, headers=alice)).content == bodies[0]
    assert (await stack.api.get(f"/exports/{export['id']}")).json() == released

    downloads = await audit_rows(stack, actor="finance:alice", action=PAGES)
    assert sorted(r["path"] for r in downloads if r["outcome"] == 200) == sorted(
        [f"{first_page}", f"/exports/{export['id']}/pages/2", first_page]
    )
    (approval,) = await audit_rows(
        stack, actor="admin:admin-bob", action="POST /exports/{export_id}/approve"
    )
    assert approval["outcome"] == 200


async def test_an_export_of_one_channel_and_an_empty_one(stack: Stack) -> None:
    web = await place_order(stack.api)
    tmall = await place_order(stack.api, channel="tmall")
    finance = stack.as_role(Role.FINANCE, "alice")

    only_tmall = await approve(stack, (await request_export(stack, finance, channel="tmall"))["id"])
    page = await stack.api.get(only_tmall["pages"][0]["href"], headers=finance)
    assert [r["order_id"] for r in rows_of(page.content)] == [tmall["id"]]
    assert web["id"] not in page.text

    nothing = await approve(stack, (await request_export(stack, finance, channel="jd"))["id"])
    assert nothing["rows"] == 0 and len(nothing["pages"]) == 1
    header = await stack.api.get(nothing["pages"][0]["href"], headers=finance)
    assert header.content == (",".join(COLUMNS) + "\r\n").encode()
    assert nothing["sha256"] == hashlib.sha256(header.content).hexdigest()


async def test_the_nightly_requester_is_nobody_an_admin_cannot_overrule(stack: Stack) -> None:
    """The schedule's export still needs a person: any admin is a second person to it."""
    from domain.exports import NIGHTLY_REQUESTER, ExportStatus
    from store.exports import ExportRepository
    from store.models import Export, utcnow

    now = utcnow()
    with transaction(stack.sessions) as session:
        ExportRepository(session).add(
            Export(
                id="exp_nightly_test",
                requested_by=NIGHTLY_REQUESTER,
                requested_at=now,
                created_from=now - timedelta(days=1),
                created_until=now,
                status=ExportStatus.PENDING.value,
            )
        )
    assert (await approve(stack, "exp_nightly_test"))["status"] == "ready"


@pytest.mark.parametrize(
    "body",
    [
        {"created_from": "2024-01-01T00:00:00", "created_until": "2024-01-02T00:00:00"},
        {"created_from": "2024-01-02T00:00:00Z", "created_until": "2024-01-01T00:00:00Z"},
        {"created_from": "2023-01-01T00:00:00Z", "created_until": "2024-01-03T00:00:00Z"},
        {"created_from": "0001-01-01T00:00:00+23:00", "created_until": "2024-01-01T00:00:00Z"},
        {"created_from": "2024-01-01T00:00:00Z", "created_until": "9999-12-31T23:59:59-23:00"},
        this_hour(channel="Not A Channel"),
        this_hour(channel="web\x00"),
        this_hour(format="xlsx"),
        {},
    ],
)
async def test_a_request_out_of_shape_is_a_422(stack: Stack, body: dict[str, Any]) -> None:
    response = await stack.api.post("/exports", json=body, headers=stack.as_role(Role.FINANCE))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/exports/exp_unknown", 404),
        ("/exports/exp_unknown/pages/1", 404),
        ("/exports/exp%00x", 422),
        ("/exports/" + "x" * 65, 422),
        ("/exports/exp_unknown/pages/0", 422),
        ("/exports/exp_unknown/pages/99999999999999999999999", 422),
        ("/exports/exp_unknown/pages/one", 422),
    ],
)
async def test_odd_export_paths_are_4xx(stack: Stack, path: str, status: int) -> None:
    response = await stack.api.get(path, headers=stack.as_role(Role.FINANCE))
    assert response.status_code == status, response.text


async def test_a_page_past_the_last_is_a_404(stack: Stack) -> None:
    finance = stack.as_role(Role.FINANCE, "alice")
    export = await approve(stack, (await request_export(stack, finance))["id"])
    response = await stack.api.get(f"/exports/{export['id']}/pages/2", headers=finance)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "export_not_found"
