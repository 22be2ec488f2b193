"""Stripe through the official SDK. In development and tests the same code talks to localstripe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import stripe

from domain.statements import StatementLine, StatementPage
from integrations.payments import ProviderPayment, ProviderRefund
from integrations.payments.stripe_transport import Urllib3Transport


class StripePayments:
    name = "stripe"

    def __init__(self, *, api_key: str, api_base: str) -> None:
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=2,
            http_client=Urllib3Transport(api_base),
        )

    def create_payment(
        self, *, order_id: str, customer_id: str, amount: int, currency: str
    ) -> ProviderPayment:
        intent = self.client.v1.payment_intents.create(
            # stripe's types name it allowed_payment_method_types; localstripe knows only this
            {  # type: ignore[typeddict-unknown-key]
                "amount": amount,
                "currency": currency,
                "payment_method_types": ["card"],
                "metadata": {"order_id": order_id, "customer_id": customer_id},
            },
            # Stripe keeps one intent per key; callers still guard with their own records.
            {"idempotency_key": order_id},
        )
        return _payment(intent)

    def retrieve_payment(self, payment_id: str) -> ProviderPayment:
        return _payment(self.client.v1.payment_intents.retrieve(payment_id))

    def cancel_payment(self, payment_id: str) -> ProviderPayment:
        """Cancel unless the customer paid meanwhile; either way, return the final state."""
        current = self.retrieve_payment(payment_id)
        if current.status in ("succeeded", "canceled", "processing"):
            return current
        return _payment(self.client.v1.payment_intents.cancel(payment_id))

    def refund_payment(
        self, *, payment_id: str, amount: int, idempotency_key: str, purpose: str = ""
    ) -> ProviderRefund:
        refund = self.client.v1.refunds.create(
            {"payment_intent": payment_id, "amount": amount, "metadata": {"purpose": purpose}},
            {"idempotency_key": idempotency_key},
        )
        return ProviderRefund(id=refund.id, amount=int(refund.amount))

    def statement_page(self, *, starting_after: str | None, limit: int) -> StatementPage:
        params: dict[str, Any] = {"limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        listed = self.client.v1.balance_transactions.list(params)  # type: ignore[arg-type]
        return StatementPage(
            lines=[self._line(txn) for txn in listed.data], has_more=bool(listed.has_more)
        )

    def _line(self, txn: stripe.BalanceTransaction) -> StatementLine:
        """The line, with the payment it belongs to: a charge's or a refund's own
        ``payment_intent`` (asked one by one; Stripe would expand them in the list)."""
        source = txn.source if isinstance(txn.source, str) else getattr(txn.source, "id", "")
        payment_id: str | None = None
        if source.startswith("ch_"):
            payment_id = _id(self.client.v1.charges.retrieve(source).payment_intent)
        elif source.startswith("re_"):
            payment_id = _id(self.client.v1.refunds.retrieve(source).payment_intent)
        return StatementLine(
            id=txn.id,
            type=txn.type,
            amount=txn.amount,
            fee=txn.fee,
            currency=txn.currency,
            source_id=source,
            payment_id=payment_id,
            created=datetime.fromtimestamp(txn.created, UTC),
        )

    def find_refund(self, *, payment_id: str, purpose: str) -> ProviderRefund | None:
        listed = self.client.v1.refunds.list({"payment_intent": payment_id, "limit": 100})
        for refund in listed.auto_paging_iter():
            tags = refund.metadata.to_dict() if refund.metadata else {}
            # localstripe ignores the filter: the payment is checked here too.
            if refund.payment_intent == payment_id and tags.get("purpose") == purpose:
                return ProviderRefund(id=refund.id, amount=int(refund.amount))
        return None


def _id(value: object) -> str | None:
    """An expandable field: its ID, whether it came as the ID or as the object."""
    if value is None or isinstance(value, str):
        return value
    return str(getattr(value, "id", "")) or None


def _payment(intent: stripe.PaymentIntent) -> ProviderPayment:
    return ProviderPayment(
        id=intent.id,
        client_secret=intent.client_secret or "",
        # Stripe answers integers; localstripe echoes an updated amount back as it was sent.
        amount=int(intent.amount),
        currency=intent.currency,
        status=intent.status,
    )
