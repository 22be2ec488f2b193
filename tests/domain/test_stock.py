"""The low-stock rule: at or under the threshold a place is low, red once nothing is left."""

from __future__ import annotations

import pytest

from domain.contract import AlertLevel
from domain.stock import low_stock, low_stock_key


@pytest.mark.parametrize(
    ("available", "threshold", "expected"),
    [
        (6, None, None),  # above the rules' default of 5
        (5, None, AlertLevel.YELLOW),
        (1, None, AlertLevel.YELLOW),
        (0, None, AlertLevel.RED),
        (6, 10, AlertLevel.YELLOW),  # the place's own threshold wins
        (3, 2, None),
    ],
)
def test_a_place_is_low_at_or_under_its_threshold(
    available: int, threshold: int | None, expected: AlertLevel | None
) -> None:
    alert = low_stock(
        "TEA-001", "HZ", available=available, threshold=threshold, default_threshold=5
    )
    assert (alert.level if alert else None) == expected


def test_the_alert_names_the_place_and_is_keyed_by_it() -> None:
    alert = low_stock("TEA-001", "HZ", available=2, threshold=None, default_threshold=5)
    assert alert is not None
    assert alert.key == low_stock_key("TEA-001", "HZ") == "low_stock:TEA-001:HZ"
    assert alert.subject == "TEA-001 at HZ"
    assert alert.message == "2 left to sell of TEA-001 at HZ"
