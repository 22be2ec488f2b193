"""localstripe, the Stripe fake used in development and tests: pointing its webhooks at us."""

from __future__ import annotations

import httpx

PAYMENT_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]


def register_webhook(*, api_base: str, name: str, url: str, secret: str) -> None:
    """localstripe then POSTs payment events to ``url``, signed with ``secret`` as Stripe does."""
    response = httpx.post(
        f"{api_base}/_config/webhooks/{name}",
        json={"url": url, "secret": secret, "events": PAYMENT_EVENTS},
        timeout=10,
    )
    response.raise_for_status()
