"""How a provider's view of a payment is judged against what the order expects."""

from __future__ import annotations

from typing import Literal

Verdict = Literal["paid", "unpaid", "mismatch"]


def judge_payment(
    *, status: str, amount: int, currency: str, expected_amount: int, expected_currency: str
) -> tuple[Verdict, str | None]:
    if status != "succeeded":
        return "unpaid", f"provider reports {status}"
    if currency.lower() != expected_currency.lower():
        return "mismatch", f"paid in {currency.upper()}, order is in {expected_currency.upper()}"
    if amount != expected_amount:
        return "mismatch", f"paid {amount}, order total is {expected_amount}"
    return "paid", None
