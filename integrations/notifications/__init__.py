"""Telling customers things: mail, and a signed webhook for the merchant's own channels
(chat, SMS, app push). Each notification is a row in ``notifications`` first; these adapters
only deliver it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "image/png"
    data: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    order_id: str
    key: str  # what it is about: "packages", "reminder", "final_reminder", ...
    to_email: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()  # mail only (a report's chart and data)


class DeliveryFailed(RuntimeError):
    pass


class Notifier(Protocol):
    def send(self, message: OutgoingMessage) -> None:
        """Deliver, or raise ``DeliveryFailed`` saying why."""


class Fanout:
    """Every channel gets the message; one channel down doesn't stop the others."""

    def __init__(self, channels: list[Notifier]) -> None:
        self.channels = channels

    def send(self, message: OutgoingMessage) -> None:
        if not self.channels:
            raise DeliveryFailed("no notification channel is configured")
        errors = []
        for channel in self.channels:
            try:
                channel.send(message)
            except DeliveryFailed as error:
                errors.append(str(error))
        if errors:
            raise DeliveryFailed("; ".join(errors))
