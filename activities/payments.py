"""Payments at the provider, mirrored in the payments table."""

from __future__ import annotations

from temporalio import activity

from domain.contract import AlertKind, AlertLevel, AlertRole
from domain.messages import (
    CreatePaymentRequest,
    ParkedRefund,
    PaymentCheck,
    PaymentCheckRequest,
    PaymentView,
    RefundMade,
    RefundRequest,
    RefundResult,
)
from domain.money import format_amount
from domain.payments import judge_payment
from integrations.payments import PaymentProvider, ProviderPayment, refund_once
from store.db import SessionFactory, transaction
from store.repositories import AlertRepository, PaymentRepository


class PaymentActivities:
    def __init__(self, sessions: SessionFactory, provider: PaymentProvider) -> None:
        self.sessions = sessions
        self.provider = provider

    @activity.defn
    def create_payment(self, request: CreatePaymentRequest) -> PaymentView:
        """One provider payment per order: an earlier attempt's payment is found and reused.
        Its client secret stays in the payments table, out of the workflow's history."""
        with transaction(self.sessions) as session:
            known = PaymentRepository(session).summary_of(request.order_id)
        if known is not None:
            return _view(self.provider.retrieve_payment(known.provider_payment_id))
        payment = self.provider.create_payment(
            order_id=request.order_id,
            customer_id=request.customer_id,
            amount=request.amount,
            currency=request.currency,
        )
        with transaction(self.sessions) as session:
            PaymentRepository(session).record_intent(
                order_id=request.order_id,
                provider=self.provider.name,
                provider_payment_id=payment.id,
                client_secret=payment.client_secret,
                amount=payment.amount,
                currency=payment.currency,
                status=payment.status,
            )
        return _view(payment)

    @activity.defn
    def check_payment(self, request: PaymentCheckRequest) -> PaymentCheck:
        """Ask the provider itself; a callback's word is never enough."""
        return self._record(self.provider.retrieve_payment(request.payment_intent_id), request)

    @activity.defn
    def cancel_payment(self, request: PaymentCheckRequest) -> PaymentCheck:
        """Cancel an unpaid payment; if the customer paid at the last second, say so instead."""
        return self._record(self.provider.cancel_payment(request.payment_intent_id), request)

    def _record(self, payment: ProviderPayment, request: PaymentCheckRequest) -> PaymentCheck:
        """Mirror the provider's status and judge it against what the order expects."""
        with transaction(self.sessions) as session:
            PaymentRepository(session).record_provider_view(
                payment.id, status=payment.status, amount=payment.amount, currency=payment.currency
            )
        verdict, reason = judge_payment(
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
            expected_amount=request.amount,
            expected_currency=request.currency,
        )
        return PaymentCheck(
            payment_intent_id=payment.id,
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
            verdict=verdict,
            reason=reason,
        )

    @activity.defn
    def refund_payment(self, request: RefundRequest) -> RefundResult:
        """Give the money back and write it in the ledger, once per purpose."""
        return self.record_refund(self.refund_at_provider(request))

    @activity.defn
    def refund_at_provider(self, request: RefundRequest) -> RefundMade:
        """The provider's part alone, so that a refund it made is never parked because the
        ledger could not be written: the workflow records it in a step of its own. A refund
        the provider already made for this purpose (a retry days later) is found, not made
        again."""
        refund = refund_once(
            self.provider,
            payment_id=request.payment_intent_id,
            amount=request.amount,
            purpose=request.purpose,
            key=f"order-{request.order_id}-refund-{request.purpose}",
        )
        return RefundMade(request=request, refund_id=refund.id, amount=refund.amount)

    @activity.defn
    def record_refund(self, made: RefundMade) -> RefundResult:
        """The ledger's row for a refund the provider made (a parked one turns refunded)."""
        request = made.request
        with transaction(self.sessions) as session:
            PaymentRepository(session).record_refund(
                order_id=request.order_id,
                provider_refund_id=made.refund_id,
                provider_payment_id=request.payment_intent_id,
                amount=made.amount,
                reason=request.reason,
                purpose=request.purpose,
                currency=request.currency,
                actor=request.by,
                units=request.units,
            )
            # A refund parked before and made now needs finance no more.
            AlertRepository(session).resolve(_parked_key(request))
        return RefundResult(refund_id=made.refund_id, amount=made.amount)

    @activity.defn
    def park_refund(self, parked: ParkedRefund) -> None:
        """In the ledger as parked, and an alert for finance: the money has not moved."""
        request = parked.refund
        currency = request.currency or ""
        with transaction(self.sessions) as session:
            PaymentRepository(session).park_refund(
                order_id=request.order_id,
                provider_payment_id=request.payment_intent_id,
                amount=request.amount,
                currency=request.currency,
                reason=request.reason,
                purpose=request.purpose,
                actor=request.by,
                problem=parked.problem,
                units=request.units,
            )
            AlertRepository(session).raise_once(
                kind=AlertKind.REFUND,
                key=_parked_key(request),
                level=AlertLevel.RED,
                subject=request.order_id,
                message=(
                    f"refund of {format_amount(request.amount, currency)} for order "
                    f"{request.order_id} parked: {parked.problem}; ask for it again with the "
                    "same request ID once the provider is back"
                ),
                role=AlertRole.FINANCE,
            )


def _parked_key(request: RefundRequest) -> str:
    return f"refund:{request.order_id}:{request.purpose}"


def _view(payment: ProviderPayment) -> PaymentView:
    return PaymentView(
        payment_intent_id=payment.id,
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status,
    )
