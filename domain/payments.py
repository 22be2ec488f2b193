"""How a provider's view of a payment is judged against what the order expects."""

from __future__ import annotations

from domain.contract import PaymentVerdict


def judge_payment(
    *, status: str, amount: int, currency: str, expected_amount: int, expected_currency: str
) -> tuple[PaymentVerdict, str | None]:
    if status != "succeeded":
        return PaymentVerdict.UNPAID, f"provider reports {status}"
    if currency.lower() != expected_currency.lower():
        return (
            PaymentVerdict.MISMATCH,
            f"paid in {currency.upper()}, order is in {expected_currency.upper()}",
        )
    if amount != expected_amount:
        return PaymentVerdict.MISMATCH, f"paid {amount}, order total is {expected_amount}"
    return PaymentVerdict.PAID, None
