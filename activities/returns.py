"""A return's steps: its label, its stamps, the units that came back, its money, and what
the customer is told."""

from __future__ import annotations

from temporalio import activity

from activities.closed_orders import ClosedRefund, refund_closed_order
from domain.contract import AlertKind, AlertLevel, AlertRole, MovementKind
from domain.messages import PaymentView
from domain.order import OrderStatus, is_final
from domain.refunds import RefundStatus
from domain.returns import (
    ExchangePayment,
    ReturnInput,
    ReturnLabel,
    ReturnNotice,
    ReturnRefund,
    ReturnRefunded,
    ReturnStamp,
    ReturnStock,
)
from integrations.carriers import Carrier, ReturnParcel
from integrations.payments import PaymentProvider, refund_once
from store.db import SessionFactory, transaction
from store.repositories import (
    AlertRepository,
    NotificationRepository,
    OrderRepository,
    PaymentRepository,
    StockRepository,
)
from store.returns import ReturnRepository
from store.stock_alerts import review_low_stock

# A parcel's weight for the return label when the order does not say (grams).
RETURN_PARCEL_GRAMS = 1_000


class ReturnActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        carriers: dict[str, Carrier],
        provider: PaymentProvider,
        low_stock_threshold: int,
    ) -> None:
        self.sessions = sessions
        self.carriers = carriers
        self.provider = provider
        self.low_stock_threshold = low_stock_threshold

    @activity.defn
    def buy_return_label(self, rma: ReturnInput) -> ReturnLabel:
        """From the carrier that brought the order (any, when it does not say), once per
        RMA: the RMA is the label's key."""
        with transaction(self.sessions) as session:
            address = OrderRepository(session).shipping_address(rma.order_id) or {}
            city = str(address.get("city", "unknown"))
        carrier = next(iter(self.carriers.values()))
        label = carrier.return_label(
            ReturnParcel(
                rma=rma.rma,
                from_city=city,
                to_warehouse=rma.warehouse,
                weight_grams=RETURN_PARCEL_GRAMS,
            ),
            key=rma.rma,
        )
        with transaction(self.sessions) as session:
            ReturnRepository(session).label(
                rma.rma, carrier=label.carrier, tracking_number=label.tracking_number
            )
        return ReturnLabel(carrier=label.carrier, tracking_number=label.tracking_number)

    @activity.defn
    def stamp_return(self, stamp: ReturnStamp) -> None:
        with transaction(self.sessions) as session:
            ReturnRepository(session).stamp(stamp.rma, stamp.status, stamp.at, stamp.note)

    @activity.defn
    def restock_return(self, stock: ReturnStock) -> None:
        """Passed units back on the shelf, once (they may close a low-stock alert)."""
        with transaction(self.sessions) as session:
            places = ReturnRepository(session).take_back(
                stock.rma, stock.order_id, stock.warehouse, stock.lines, MovementKind.RESTOCK
            )
            review_low_stock(session, places, self.low_stock_threshold)

    @activity.defn
    def quarantine_return(self, stock: ReturnStock) -> None:
        """Failed units in the ledger where they lie, not for sale; support decides."""
        what = ", ".join(f"{line.quantity} × {line.sku}" for line in stock.lines)
        with transaction(self.sessions) as session:
            ReturnRepository(session).take_back(
                stock.rma, stock.order_id, stock.warehouse, stock.lines, MovementKind.QUARANTINE
            )
            AlertRepository(session).raise_once(
                kind=AlertKind.RETURN,
                key=f"return:{stock.rma}",
                level=AlertLevel.YELLOW,
                subject=stock.order_id,
                message=(
                    f"{stock.rma} failed inspection: {what} quarantined at {stock.warehouse}, "
                    "not restocked and not refunded; decide with the customer"
                ),
                role=AlertRole.SUPPORT,
            )

    @activity.defn
    def refund_return(self, refund: ReturnRefund) -> ReturnRefunded:
        """Straight to the provider once the order's workflow has closed; a running order
        is left to refund it itself (``running``), to keep its count."""
        with transaction(self.sessions) as session:
            order = OrderRepository(session).get(refund.order_id)
            running = order is not None and not is_final(OrderStatus(order.status))
            if running and not refund.directly:
                return ReturnRefunded(running=True)
            earlier = next(
                (
                    r
                    for r in PaymentRepository(session).refunds(refund.order_id)
                    if r.purpose == refund.purpose and r.status == RefundStatus.REFUNDED.value
                ),
                None,
            )
            if earlier is not None:  # made already (by the order itself, or a retry)
                return ReturnRefunded(amount=earlier.amount)
            wanted, units = refund.amount, {line.sku: line.quantity for line in refund.lines}
            if units and order is not None:
                # Only units no refund covered yet (a refund by lines may have come first).
                returns = ReturnRepository(session)
                left, prices = returns.not_refunded(order.id), returns.unit_prices(order)
                units = {sku: min(n, max(left[sku], 0)) for sku, n in units.items()}
                units = {sku: n for sku, n in units.items() if n}
                wanted = min(wanted, sum(prices.get(sku, 0) * n for sku, n in units.items()))
        if wanted <= 0:
            return ReturnRefunded()
        amount = refund_closed_order(
            self.sessions,
            self.provider,
            ClosedRefund(
                order_id=refund.order_id,
                purpose=refund.purpose,
                wanted=wanted,
                reason=refund.reason,
                by=refund.by,
                units=units or None,
            ),
        )
        return ReturnRefunded(amount=amount)

    @activity.defn
    def create_exchange_payment(self, charge: ExchangePayment) -> PaymentView:
        """What a dearer replacement costs more, as a payment of its own (one per RMA: the
        RMA is its idempotency key); its client secret stays on the RMA's row."""
        with transaction(self.sessions) as session:
            row = ReturnRepository(session).get(charge.rma)
            known = row.payment_intent_id if row else None
        payment = (
            self.provider.retrieve_payment(known)
            if known
            else self.provider.create_payment(
                order_id=charge.rma,
                customer_id=charge.customer_id,
                amount=charge.amount,
                currency=charge.currency,
            )
        )
        with transaction(self.sessions) as session:
            ReturnRepository(session).payment(
                charge.rma, payment_intent_id=payment.id, client_secret=payment.client_secret
            )
        return PaymentView(
            payment_intent_id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            status=payment.status,
        )

    @activity.defn
    def exchange_paid(self, payment: PaymentView) -> bool:
        return self.provider.retrieve_payment(payment.payment_intent_id).status == "succeeded"

    @activity.defn
    def cancel_exchange(self, stock: ReturnStock) -> None:
        """No exchange after all: its replacement's stock goes back on sale, and its payment
        is cancelled, or given back (once) if the customer paid it after all."""
        with transaction(self.sessions) as session:
            row = ReturnRepository(session).get(stock.rma)
            package = (row.replacement or {}).get("package") if row else None
            intent = row.payment_intent_id if row else None
            if package is not None:
                StockRepository(session).release_packages(stock.order_id, [int(package)])
        if not intent:
            return
        payment = self.provider.cancel_payment(intent)
        if payment.status != "succeeded":
            return
        purpose = f"exchange-{stock.rma}"
        refund = refund_once(
            self.provider,
            payment_id=intent,
            amount=payment.amount,
            purpose=purpose,
            key=f"{stock.rma}-{purpose}",
        )
        with transaction(self.sessions) as session:
            PaymentRepository(session).record_refund(
                order_id=stock.order_id,
                provider_refund_id=refund.id,
                provider_payment_id=intent,
                amount=refund.amount,
                reason=f"{stock.rma}: the exchange was not made",
                purpose=purpose,
                currency=payment.currency,
            )

    @activity.defn
    def tell_return_customer(self, notice: ReturnNotice) -> None:
        """Written to the outbox, which delivers it (and retries) on its own schedule."""
        with transaction(self.sessions) as session:
            NotificationRepository(session).write_once(
                notice.order_id,
                key=f"{notice.rma}-{notice.key}",
                recipient=notice.customer_id,
                message=notice.message,
            )
