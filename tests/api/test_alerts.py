"""``POST /alerts/{id}/resolve``: a person closes an alert once they dealt with it."""

from __future__ import annotations

from store.db import SessionFactory, transaction
from store.repositories import AlertRepository
from tests.conftest import Stack


def raise_alert(sessions: SessionFactory, key: str) -> None:
    with transaction(sessions) as session:
        AlertRepository(session).raise_once(
            kind="carrier_exception",
            key=key,
            level="red",
            subject="package 1 of order web-A-1",
            message="sandbox reported an exception (/orders/web-A-1)",
            role="support",
        )


async def test_a_resolved_alert_leaves_the_open_list_and_can_open_again(
    stack: Stack, sessions: SessionFactory
) -> None:
    raise_alert(sessions, "carrier_exception:shipment-web-A-1-1")
    [alert] = (await stack.api.get("/alerts")).json()["items"]

    response = await stack.api.post(f"/alerts/{alert['id']}/resolve")
    assert response.status_code == 200, response.text
    resolved = response.json()
    assert resolved["id"] == alert["id"] and resolved["resolved_at"] is not None
    assert (await stack.api.get("/alerts")).json()["items"] == []

    again = await stack.api.post(f"/alerts/{alert['id']}/resolve")
    assert again.status_code == 200 and again.json() == resolved  # closing twice: no change

    # The same condition later is a new alert, not the old one reopened.
    raise_alert(sessions, "carrier_exception:shipment-web-A-1-1")
    [reopened] = (await stack.api.get("/alerts")).json()["items"]
    assert reopened["id"] != alert["id"]


async def test_an_unknown_alert_is_404_and_a_bad_id_422(stack: Stack) -> None:
    missing = await stack.api.post("/alerts/999999/resolve")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "alert_not_found"
    bad = await stack.api.post("/alerts/first/resolve")
    assert bad.status_code == 422
