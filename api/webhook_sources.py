"""Where each kind of webhook arrives, how it is signed, and which body field names its event.

The recorder reads a request's source from its path; ``orderflow webhooks replay`` goes the
other way, from a recorded source back to its route, header and secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from config.settings import Settings

STRIPE_PATH = "/webhooks/payments/stripe"
CARRIER_PREFIX = "/webhooks/carriers/"
# ``orderflow webhooks replay`` names the row it re-sends, so the log tells replays apart.
REPLAY_HEADER = "Orderflow-Replay-Of"
# ``webhook_log.source`` is 64 characters; a carrier name from the path is cut to fit.
CARRIER_NAME_CHARS = 64 - len("carrier:")


class SourceKind(StrEnum):
    STRIPE = "stripe"
    CARRIER = "carrier"


@dataclass(frozen=True)
class WebhookSource:
    kind: SourceKind
    carrier: str | None = None

    @property
    def name(self) -> str:
        """As recorded: ``stripe`` or ``carrier:<name>``."""
        return f"{self.kind}:{self.carrier}" if self.carrier else str(self.kind)

    @property
    def path(self) -> str:
        return STRIPE_PATH if self.kind is SourceKind.STRIPE else f"{CARRIER_PREFIX}{self.carrier}"

    @property
    def signature_header(self) -> str:
        return "Stripe-Signature" if self.kind is SourceKind.STRIPE else "Carrier-Signature"

    @property
    def event_id_field(self) -> str:
        """Stripe events carry ``id``; carrier tracking reports ``event_id``."""
        return "id" if self.kind is SourceKind.STRIPE else "event_id"

    def secret(self, settings: Settings) -> str:
        if self.kind is SourceKind.STRIPE:
            return settings.stripe_webhook_secret
        return settings.carrier_webhook_secret


STRIPE = WebhookSource(SourceKind.STRIPE)


def source_at(path: str) -> WebhookSource | None:
    """The webhook route ``path`` belongs to; None for any other path."""
    if path == STRIPE_PATH:
        return STRIPE
    if path.startswith(CARRIER_PREFIX):
        carrier = path.removeprefix(CARRIER_PREFIX)
        if carrier and "/" not in carrier:
            return WebhookSource(SourceKind.CARRIER, carrier[:CARRIER_NAME_CHARS])
    return None


def source_named(name: str) -> WebhookSource:
    """The source a ``webhook_log.source`` names; ValueError for anything else."""
    if name == SourceKind.STRIPE:
        return STRIPE
    kind, _, carrier = name.partition(":")
    if kind == SourceKind.CARRIER and carrier:
        return WebhookSource(SourceKind.CARRIER, carrier)
    raise ValueError(f"not a webhook source: {name!r}")
