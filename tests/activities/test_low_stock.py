"""Low-stock alerts: the activities' review raises and resolves them as the domain rule says."""

from __future__ import annotations

from sqlalchemy import select

from store.db import SessionFactory, transaction
from store.models import Alert, StockLevel
from store.repositories import StockRepository
from store.stock_alerts import review_low_stock
from tests.store.packages import package, reserve


def test_low_stock_raises_one_alert_and_resolves_when_stock_is_back(
    sessions: SessionFactory,
) -> None:
    def review() -> int:
        with transaction(sessions) as session:
            return review_low_stock(session, [("POT-004", "HZ")], threshold=5)

    def open_alerts() -> list[Alert]:
        with transaction(sessions) as session:
            return list(session.scalars(select(Alert).where(Alert.resolved_at.is_(None))))

    assert review() == 0  # 10 free, above 5
    reserve(sessions, "o-1", 1, package(1, "HZ", ("POT-004", 6)))
    assert review() == 1
    assert review() == 0  # still low: the same alert stays open, no second one
    [alert] = open_alerts()
    assert (alert.kind, alert.level, alert.role) == ("low_stock", "yellow", "warehouse")
    assert "POT-004" in alert.subject and "HZ" in alert.subject

    with transaction(sessions) as session:
        StockRepository(session).release("o-1")
    assert review() == 0
    assert open_alerts() == []

    reserve(sessions, "o-2", 1, package(1, "HZ", ("POT-004", 10)))
    assert review() == 1  # low again: a new alert, red at zero
    assert [a.level for a in open_alerts()] == ["red"]


def test_a_stock_level_can_set_its_own_threshold(sessions: SessionFactory) -> None:
    with transaction(sessions) as session:
        level = session.get(StockLevel, ("TEA-001", "HZ"))
        assert level is not None
        level.low_stock_threshold = 499
    reserve(sessions, "o-1", 1, package(1, "HZ", ("TEA-001", 1)))
    with transaction(sessions) as session:
        assert review_low_stock(session, [("TEA-001", "HZ")], threshold=5) == 1
