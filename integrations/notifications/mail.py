"""Mail through an SMTP server (in development, the local sink ``orderflow dev`` starts)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from integrations.notifications import DeliveryFailed, OutgoingMessage

TIMEOUT_SECONDS = 5


class MailNotifier:
    def __init__(self, *, host: str, port: int, sender: str) -> None:
        self.host, self.port, self.sender = host, port, sender

    def send(self, message: OutgoingMessage) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to_email
        mail["Subject"] = message.subject
        mail["X-Orderflow-Order"] = message.order_id
        mail["X-Orderflow-Notification"] = message.key
        mail.set_content(message.body)
        for attachment in message.attachments:
            kind, _, subtype = attachment.content_type.partition("/")
            mail.add_attachment(
                attachment.data, maintype=kind, subtype=subtype, filename=attachment.filename
            )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS) as smtp:
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryFailed(f"mail to {self.host}:{self.port}: {error}") from error
