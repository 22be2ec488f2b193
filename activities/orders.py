"""The order's read model: status, timeline, packages, confirmation and customer messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity

from activities.notifications import NotificationDelivery
from domain.confirmation import (
    ConfirmationRules,
    Place,
    ReminderKind,
    is_low_activity,
    region_of,
    reminders,
    window_for,
)
from domain.contract import AlertKind, AlertLevel, AlertRole
from domain.messages import (
    AuditRecord,
    ConfirmationQuery,
    ConfirmationRecord,
    ConfirmationTerms,
    PackagesRecord,
    PresaleNotice,
    ReminderRequest,
    TransitionRecord,
    WindowOpening,
)
from integrations.notifications import Fanout, Notifier
from store.db import SessionFactory, transaction
from store.models import Warehouse
from store.repositories import (
    AlertRepository,
    CustomerRepository,
    NotificationRepository,
    OrderRepository,
    StockRepository,
)


class OrderActivities:
    def __init__(self, sessions: SessionFactory, notifier: Notifier | None = None) -> None:
        self.sessions = sessions
        self.delivery = NotificationDelivery(sessions, notifier or Fanout([]))

    @activity.defn
    def record_transition(self, record: TransitionRecord) -> None:
        with transaction(self.sessions) as session:
            _record(OrderRepository(session), record)

    @activity.defn
    def record_packages(self, record: PackagesRecord) -> None:
        """The sub-orders, the customer's "ships in N packages" and the allocation, at once."""
        with transaction(self.sessions) as session:
            order_id = record.transition.order_id
            orders = OrderRepository(session)
            if record.paid is not None:
                _record(orders, record.paid)
            orders.add_packages(order_id, record.packages)
            NotificationRepository(session).write_once(
                order_id, key="packages", recipient=record.customer_id, message=record.message
            )
            _record(orders, record.transition)

    @activity.defn
    def confirmation_terms(self, query: ConfirmationQuery) -> ConfirmationTerms:
        """The window from where the packages left to where they arrived; the customer's tag.
        (Orders begun before the fourth shape; later ones open their window in one step.)"""
        with transaction(self.sessions) as session:
            return _terms(session, query.order_id, query.customer_id, query.rules)

    @activity.defn
    def open_confirmation_window(self, opening: WindowOpening) -> ConfirmationTerms:
        """The window's terms, and its reminders written to go out from the outbox when due,
        while the order still waits for the customer (``deliver_pending``): the order keeps
        only the window's end as a timer. Run again, it writes nothing new."""
        with transaction(self.sessions) as session:
            terms = _terms(session, opening.order_id, opening.customer_id, opening.rules)
            if terms.confirm_on_delivery:
                return terms
            window = opening.window or terms.window
            confirm_by = opening.delivered_at + window
            notifications = NotificationRepository(session)
            for reminder in reminders(opening.delivered_at, window, opening.rules):
                notifications.write_once(
                    opening.order_id,
                    key=reminder.kind.value,
                    recipient=opening.customer_id,
                    message=reminder_message(opening.order_id, reminder.kind, confirm_by),
                    due_at=reminder.at,
                )
        return terms

    @activity.defn
    def remind_customer(self, request: ReminderRequest) -> bool:
        """Write the reminder once and deliver it; True once delivered. (Orders begun before
        the fourth shape, whose windows send their reminders themselves.)

        A channel that is down is recorded on the notification (``last_error``) instead of
        failing the activity: a mail outage must not hold up the order's own timers. The
        outbox schedule tries again later.
        """
        body = reminder_message(request.order_id, request.kind, request.confirm_by)
        key = request.kind.value
        with transaction(self.sessions) as session:
            notifications = NotificationRepository(session)
            notifications.write_once(
                request.order_id, key=key, recipient=request.customer_id, message=body
            )
            note_id = notifications.id_of(request.order_id, key)
        error = self.delivery.deliver(note_id)
        if error is not None:
            activity.logger.warning("reminder for %s not delivered: %s", request.order_id, error)
        return error is None

    @activity.defn
    def record_confirmation(self, record: ConfirmationRecord) -> None:
        """The completed row, how the window ended, and the low-activity tag it may earn."""
        with transaction(self.sessions) as session:
            customers = CustomerRepository(session)
            customers.record_confirmation(
                record.transition.order_id,
                record.customer_id,
                automatic=record.automatic,
                at=record.transition.at,
            )
            recent = customers.recent_confirmations(
                record.customer_id, record.rules.low_activity_after
            )
            if record.automatic and is_low_activity(recent, record.rules):
                customers.tag_low_activity(record.customer_id)
            _record(OrderRepository(session), record.transition)

    @activity.defn
    def tell_presale_date(self, notice: PresaleNotice) -> None:
        """The customer learns when a presale package will really ship (written once)."""
        at = f"{notice.ships_at:%Y-%m-%d %H:%M} UTC"
        with transaction(self.sessions) as session:
            NotificationRepository(session).write_once(
                notice.order_id,
                key=f"presale-{notice.package}",
                recipient=notice.customer_id,
                message=f"Your presale {', '.join(notice.skus)} will ship around {at}.",
            )

    @activity.defn
    def send_to_audit(self, record: AuditRecord) -> None:
        """The order waits in the audit queue: an alert for finance, a note on its timeline."""
        order_id = record.transition.order_id
        with transaction(self.sessions) as session:
            AlertRepository(session).raise_once(
                kind=AlertKind.AUDIT,
                key=f"audit:{order_id}",
                level=AlertLevel.RED,
                subject=f"order {order_id}",
                message=f"{'; '.join(record.doubts)} (/orders/{order_id})",
                role=AlertRole.FINANCE,
            )
            _record(OrderRepository(session), record.transition)

    @activity.defn
    def close_audit(self, record: AuditRecord) -> None:
        with transaction(self.sessions) as session:
            AlertRepository(session).resolve(f"audit:{record.transition.order_id}")
            _record(OrderRepository(session), record.transition)


def reminder_message(order_id: str, kind: ReminderKind, confirm_by: datetime) -> str:
    by = f"{confirm_by:%Y-%m-%d %H:%M} UTC"
    if kind == ReminderKind.REMINDER:
        return (
            f"Did order {order_id} arrive? Please confirm receipt by {by}, "
            "or tell us what went wrong."
        )
    return (
        f"Order {order_id} will be confirmed as received at {by}. "
        "If something is wrong, tell us before then."
    )


def _terms(
    session: Session, order_id: str, customer_id: str, rules: ConfirmationRules
) -> ConfirmationTerms:
    address = OrderRepository(session).shipping_address(order_id)
    assert address is not None, f"no order {order_id}"
    destination = Place(city=address["city"], province=address.get("province"))
    codes = {p.warehouse for p in OrderRepository(session).packages(order_id)} or {
        m.warehouse for m in StockRepository(session).movements_of(order_id)
    }
    origins = [
        Place(city=w.city or w.name, province=w.province)
        for w in session.scalars(select(Warehouse).where(Warehouse.code.in_(codes)))
    ]
    low_activity = CustomerRepository(session).is_low_activity(customer_id)
    region = region_of(destination, origins, rules)
    return ConfirmationTerms(
        region=region, window=window_for(region, rules), confirm_on_delivery=low_activity
    )


def _record(orders: OrderRepository, record: TransitionRecord) -> None:
    orders.record_transition(
        record.order_id, seq=record.seq, status=record.status, at=record.at, note=record.note
    )
