"""The shipment health board lists every parcel stuck in one stage for over 2 hours."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from store.db import SessionFactory, transaction
from store.models import Shipment, utcnow
from tests.conftest import Stack
from tests.helpers import place_order


def shipment(order_id: str, package: int, status: str, **stamps: Any) -> Shipment:
    return Shipment(
        id=f"shipment-{order_id}-{package}",
        order_id=order_id,
        package=package,
        carrier="sandbox",
        label_id=f"lbl_{package}",
        tracking_number=f"SBX{order_id[-6:]}{package}",
        transaction_id=f"{order_id}/1/{package}",
        status=status,
        **stamps,
    )


async def test_parcels_stuck_over_two_hours_are_listed_longest_first(
    stack: Stack, sessions: SessionFactory
) -> None:
    order_id = (await place_order(stack.api))["id"]
    now = utcnow()
    with transaction(sessions) as session:
        session.add_all(
            [
                # Label bought 3 h ago, nothing since: stuck before the warehouse even began.
                shipment(order_id, 1, "label_bought", label_bought_at=now - timedelta(hours=3)),
                # In transit for 5 h: stuck longest.
                shipment(
                    order_id,
                    2,
                    "in_transit",
                    label_bought_at=now - timedelta(hours=9),
                    picked_up_at=now - timedelta(hours=8),
                    in_transit_at=now - timedelta(hours=5),
                ),  # fmt: skip
                # Moving: its last stage is 30 min old.
                shipment(
                    order_id,
                    3,
                    "picked_up",
                    label_bought_at=now - timedelta(hours=4),
                    picked_up_at=now - timedelta(minutes=30),
                ),  # fmt: skip
                # Delivered long ago: not stuck, done.
                shipment(
                    order_id,
                    4,
                    "delivered",
                    label_bought_at=now - timedelta(days=3),
                    delivered_at=now - timedelta(days=2),
                ),  # fmt: skip
            ]
        )

    response = await stack.api.get("/shipments/stuck")
    assert response.status_code == 200, response.text
    board = response.json()
    assert [(p["package"], p["stage"]) for p in board] == [(2, "in_transit"), (1, "label_bought")]
    assert board[0]["stuck_minutes"] >= 300 and board[0]["link"] == f"/orders/{order_id}"

    tighter = await stack.api.get("/shipments/stuck", params={"longer_than_minutes": 20})
    assert [p["package"] for p in tighter.json()] == [2, 1, 3]
    refused = await stack.api.get("/shipments/stuck", params={"longer_than_minutes": 0})
    assert refused.status_code == 422
