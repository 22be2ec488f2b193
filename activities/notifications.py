"""Delivering the customer notifications stored in ``notifications``: the outbox schedule
delivers whatever is due and still unsent — the "ships in N packages" and presale notices, the
reminders to confirm receipt (written when the order's window opens, due days later), and any
message a channel was down for."""

from __future__ import annotations

from temporalio import activity

from domain.confirmation import ReminderKind
from domain.contract import AlertKind, AlertLevel, AlertRole
from domain.messages import OutboxReport, OutboxRequest
from integrations.notifications import DeliveryFailed, Notifier, OutgoingMessage
from store.db import SessionFactory, transaction
from store.models import Customer, Notification, utcnow
from store.repositories import AlertRepository, NotificationRepository

SUBJECTS = {
    ReminderKind.REMINDER.value: "Did your order arrive?",
    ReminderKind.FINAL_REMINDER.value: "Last reminder: your order confirms itself soon",
    "packages": "Your order is on its way",
}


def subject_for(key: str) -> str:
    if key.startswith("presale-"):
        return "When your presale goods will ship"
    return SUBJECTS.get(key, "About your order")


class NotificationDelivery:
    def __init__(self, sessions: SessionFactory, notifier: Notifier) -> None:
        self.sessions = sessions
        self.notifier = notifier

    def deliver(self, notification_id: int) -> str | None:
        """Send one stored notification and record how it went; None once delivered,
        otherwise why not. One already delivered is not sent again."""
        with transaction(self.sessions) as session:
            note = session.get(Notification, notification_id)
            assert note is not None, f"no notification {notification_id}"
            if note.sent_at is not None:
                return None
            customer = session.get(Customer, note.recipient)
            message = OutgoingMessage(
                order_id=note.order_id,
                key=note.key,
                to_email=customer.email if customer else "",
                subject=subject_for(note.key),
                body=note.message,
            )
        try:
            self.notifier.send(message)
        except DeliveryFailed as error:
            with transaction(self.sessions) as session:
                NotificationRepository(session).mark_failed(notification_id, str(error))
            return str(error)
        with transaction(self.sessions) as session:
            NotificationRepository(session).mark_sent(notification_id, utcnow())
        return None


class NotificationActivities:
    def __init__(self, sessions: SessionFactory, notifier: Notifier) -> None:
        self.sessions = sessions
        self.delivery = NotificationDelivery(sessions, notifier)

    @activity.defn
    def deliver_pending(self, request: OutboxRequest) -> OutboxReport:
        """One pass over the notifications due and unsent, oldest first; a reminder to
        confirm receipt only while the order still waits for it. A notification that failed
        ``max_attempts`` times is left alone and support is told, once."""
        now = request.as_of or utcnow()
        with transaction(self.sessions) as session:
            pending = NotificationRepository(session).pending(
                due_after=now - request.max_age,
                written_before=now - request.grace,
                now=now,
                max_attempts=request.max_attempts,
                limit=request.batch,
                while_awaiting_receipt=[kind.value for kind in ReminderKind],
            )
        report = OutboxReport()
        for done, note_id in enumerate(pending, start=1):
            error = self.delivery.deliver(note_id)
            if error is None:
                report.sent += 1
            else:
                report.failed += 1
                report.given_up += self._give_up_if_exhausted(note_id, request.max_attempts)
            activity.heartbeat(done)
        return report

    def _give_up_if_exhausted(self, note_id: int, max_attempts: int) -> int:
        with transaction(self.sessions) as session:
            note = session.get(Notification, note_id)
            assert note is not None
            if note.attempts < max_attempts:
                return 0
            AlertRepository(session).raise_once(
                kind=AlertKind.NOTIFICATION,
                key=f"notification:{note.id}",
                level=AlertLevel.YELLOW,
                subject=f"order {note.order_id}",
                message=(
                    f"the customer never got the {note.key} message after {note.attempts} "
                    f"tries: {note.last_error} (/orders/{note.order_id})"
                ),
                role=AlertRole.SUPPORT,
            )
            return 1
