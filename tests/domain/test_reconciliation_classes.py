"""``classify``: what one movement's views on the three sides say."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.reconciliation import DifferenceClass, Movement, Seen, Side, classify, fingerprint

AT = datetime(2026, 11, 30, tzinfo=UTC)


def seen(side: Side, amount: int = 3_600, currency: str = "usd", ref: str = "pi_1") -> Seen:
    return Seen(
        side=side, ref=ref, kind=Movement.CHARGE, trace_id="t1", amount=amount,
        currency=currency, order_id="web-1", at=AT,
        fingerprint=fingerprint("t1", Movement.CHARGE, amount, currency),
    )  # fmt: skip


def kind_of(*views: Seen) -> DifferenceClass | None:
    found = classify(views)
    return found.difference.kind if found else None


def test_each_side_missing_or_disagreeing_is_its_own_class() -> None:
    provider, orders, ledger = seen(Side.PROVIDER), seen(Side.ORDERS), seen(Side.LEDGER)

    assert kind_of(provider, orders, ledger) is None
    assert kind_of(orders, ledger) == DifferenceClass.MISSING_AT_PROVIDER
    assert kind_of(provider) == DifferenceClass.MISSING_IN_ORDERS
    assert kind_of(provider, orders) == DifferenceClass.MISSING_IN_LEDGER
    assert kind_of(seen(Side.PROVIDER, 3_500), orders, ledger) == DifferenceClass.AMOUNT_MISMATCH
    euros = seen(Side.PROVIDER, currency="eur")
    assert kind_of(euros, orders, ledger) == DifferenceClass.CURRENCY_MISMATCH


def test_a_movement_the_provider_lists_twice_is_not_taken_for_one() -> None:
    twice = kind_of(seen(Side.PROVIDER), seen(Side.PROVIDER), seen(Side.ORDERS), seen(Side.LEDGER))

    assert twice == DifferenceClass.MISSING_IN_ORDERS
