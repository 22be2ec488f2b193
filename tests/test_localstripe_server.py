"""The development payment provider keeps Stripe's promise about idempotency keys."""

from __future__ import annotations

from integrations.payments.stripe import StripePayments


def test_a_repeated_create_with_the_same_key_returns_the_first_payment(
    payments: StripePayments,
) -> None:
    first = payments.create_payment(
        order_id="web-IDEM-1", customer_id="c", amount=500, currency="usd"
    )
    again = payments.create_payment(
        order_id="web-IDEM-1", customer_id="c", amount=500, currency="usd"
    )
    other = payments.create_payment(
        order_id="web-IDEM-2", customer_id="c", amount=500, currency="usd"
    )
    assert again.id == first.id
    assert other.id != first.id
