"""Payment providers behind one small interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.statements import StatementPage


@dataclass(frozen=True)
class ProviderPayment:
    """What a provider says about a payment, in its own words."""

    id: str
    client_secret: str
    amount: int
    currency: str
    status: str


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    amount: int


class StatementSource(Protocol):
    """Where a provider's statement comes from: its API (Stripe), or an export file
    (``integrations/payments/csv_statement.py``)."""

    def statement_page(self, *, starting_after: str | None, limit: int) -> StatementPage:
        """A page of the statement after the line ``starting_after``."""
        ...


class PaymentProvider(Protocol):
    name: str

    def create_payment(
        self, *, order_id: str, customer_id: str, amount: int, currency: str
    ) -> ProviderPayment: ...

    def retrieve_payment(self, payment_id: str) -> ProviderPayment: ...

    def cancel_payment(self, payment_id: str) -> ProviderPayment: ...

    def refund_payment(
        self, *, payment_id: str, amount: int, idempotency_key: str, purpose: str = ""
    ) -> ProviderRefund: ...

    def statement_page(self, *, starting_after: str | None, limit: int) -> StatementPage:
        """A page of the statement, newest first, after the line ``starting_after``."""
        ...

    def find_refund(self, *, payment_id: str, purpose: str) -> ProviderRefund | None:
        """The payment's refund made for ``purpose``, if the provider holds one: what makes a
        refund asked again days later (after the idempotency key expired) not a second one."""
        ...


def refund_once(
    provider: PaymentProvider, *, payment_id: str, amount: int, purpose: str, key: str
) -> ProviderRefund:
    """The refund made for ``purpose``: found at the provider if it was made before (even
    after the provider forgot its idempotency key), else made now under ``key``."""
    return provider.find_refund(payment_id=payment_id, purpose=purpose) or (
        provider.refund_payment(
            payment_id=payment_id, amount=amount, idempotency_key=key, purpose=purpose
        )
    )
