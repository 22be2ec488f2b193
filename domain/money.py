"""Money is an integer count of the currency's minor unit (cents). Never floats."""

from __future__ import annotations


def line_total(unit_price: int, quantity: int) -> int:
    return unit_price * quantity


def format_amount(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency.upper()}"
