"""Each notification POSTed as JSON to the merchant's URL, signed like Stripe's webhooks
(header ``Orderflow-Signature``, checked with ``integrations.signing.verify``)."""

from __future__ import annotations

import json
from dataclasses import asdict

import httpx

from integrations.notifications import DeliveryFailed, OutgoingMessage
from integrations.signing import sign

SIGNATURE_HEADER = "Orderflow-Signature"
TIMEOUT_SECONDS = 5


class WebhookNotifier:
    def __init__(self, *, url: str, secret: str) -> None:
        self.url, self.secret = url, secret

    def send(self, message: OutgoingMessage) -> None:
        body = json.dumps({"type": "customer_notification", **_fields(message)}).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)}
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"webhook {self.url}: {error}") from error
        if response.status_code >= 300:
            raise DeliveryFailed(f"webhook {self.url} answered {response.status_code}")


def _fields(message: OutgoingMessage) -> dict[str, object]:
    """What the merchant's channels hear: the message's words (attachments are for mail)."""
    fields = asdict(message)
    del fields["attachments"]
    return fields
