"""The finance ledger's rules: which accounts a movement of money touches, double-entry.

A captured payment is owed to us by the provider until it pays out: receivable up, sales
up. A refund is sales given back: refunds (a contra-revenue account) up, receivable down.
The provider's fees and payouts come from its statement (cash, fees). Every movement's
debits equal its credits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Account(StrEnum):
    RECEIVABLE = "receivable"  # what the payment provider holds for us
    CASH = "cash"  # what reached our bank
    SALES = "sales"
    REFUNDS = "refunds"  # sales given back
    FEES = "fees"  # what the provider kept


class EntryKind(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"


@dataclass(frozen=True)
class Leg:
    account: Account
    debit: int
    credit: int


def legs(kind: EntryKind, amount: int) -> list[Leg]:
    """The double entry for ``amount`` minor units of ``kind``: debits equal credits."""
    if kind is EntryKind.CHARGE:
        return [Leg(Account.RECEIVABLE, amount, 0), Leg(Account.SALES, 0, amount)]
    return [Leg(Account.REFUNDS, amount, 0), Leg(Account.RECEIVABLE, 0, amount)]
