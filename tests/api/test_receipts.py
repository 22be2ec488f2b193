"""Goods received at a warehouse: booked once per delivery note, through the API and the CLI,
and a low-stock alert the goods end is closed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from config.settings import get_settings
from domain.access import Role
from orderflow.cli import app
from store.db import SessionFactory, transaction
from store.models import StockMovement
from store.repositories import StockRepository
from tests.conftest import Stack
from tests.store.packages import package, reserve

RECEIPTS = "/warehouse/receipts"


def on_hand(sessions: SessionFactory, sku: str, warehouse: str) -> int:
    with transaction(sessions) as session:
        level = StockRepository(session).level(sku, warehouse)
        return level.on_hand if level else 0


def receipt(reference: str = "DN-1", quantity: int = 50, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {"reference": reference, "sku": "TEA-001", "warehouse": "HZ"}
    return body | {"quantity": quantity} | changes


async def test_goods_are_booked_once_per_delivery_note(
    stack: Stack, sessions: SessionFactory
) -> None:
    warehouse = stack.as_role(Role.WAREHOUSE, "wu")
    before = on_hand(sessions, "TEA-001", "HZ")
    first = await stack.api.post(RECEIPTS, json=receipt(), headers=warehouse)
    assert first.status_code == 201, first.text
    assert first.json()["on_hand"] == before + 50 and first.json()["replayed"] is False

    again = await stack.api.post(RECEIPTS, json=receipt(), headers=warehouse)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert on_hand(sessions, "TEA-001", "HZ") == before + 50

    other_goods = await stack.api.post(RECEIPTS, json=receipt(quantity=5), headers=warehouse)
    assert other_goods.status_code == 409, other_goods.text
    with transaction(sessions) as session:
        ledger = session.query(StockMovement).filter_by(reference="receipt/DN-1").all()
        assert [(m.kind, m.quantity) for m in ledger] == [("receipt", 50)]


@pytest.mark.parametrize(
    ("changes", "code"),
    [({"sku": "NOPE-1"}, "unknown_sku"), ({"warehouse": "XX"}, "unknown_warehouse")],
)
async def test_unknown_goods_or_places_are_refused(
    stack: Stack, sessions: SessionFactory, changes: dict[str, str], code: str
) -> None:
    response = await stack.api.post(RECEIPTS, json=receipt(**changes))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_receiving_closes_the_low_stock_alert(stack: Stack, sessions: SessionFactory) -> None:
    reserve(sessions, "o-low", 1, package(1, "HZ", ("POT-004", 8)))  # 2 of 10 left: low
    from store.stock_alerts import review_low_stock

    with transaction(sessions) as session:
        assert review_low_stock(session, [("POT-004", "HZ")], threshold=5) == 1
    assert [a["subject"] for a in (await stack.api.get("/alerts")).json()["items"]] == [
        "POT-004 at HZ"
    ]
    booked = await stack.api.post(
        RECEIPTS, json=receipt(sku="POT-004", quantity=20), headers=stack.as_role(Role.WAREHOUSE)
    )
    assert booked.status_code == 201 and booked.json()["available"] == 22
    assert (await stack.api.get("/alerts")).json()["items"] == []


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[None]:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_cli_books_a_receipt_the_same_way(sessions: SessionFactory, cli_env: None) -> None:
    before = on_hand(sessions, "TEA-001", "SH")
    arguments = ["stock", "receive", "--sku", "TEA-001", "--warehouse", "SH", "--quantity", "7"]
    first = CliRunner().invoke(app, [*arguments, "--reference", "DN-CLI"])
    assert first.exit_code == 0, first.output
    assert "booked 7 of TEA-001 at SH" in first.output
    again = CliRunner().invoke(app, [*arguments, "--reference", "DN-CLI"])
    assert again.exit_code == 0 and "booked before" in again.output
    assert on_hand(sessions, "TEA-001", "SH") == before + 7
    wrong = CliRunner().invoke(app, [*arguments[:-1], "8", "--reference", "DN-CLI"])
    assert wrong.exit_code == 1 and "not 8" in wrong.output
