"""Provider callbacks. Verify, hand to the workflow, answer at once: the work happens after."""

from __future__ import annotations

import logging

import stripe
from fastapi import APIRouter, Header, Request
from prometheus_client import Counter
from pydantic import BaseModel

from api.deps import SettingsDep, WorkflowsDep
from api.schemas import Accepted
from domain.errors import InvalidRequest
from domain.messages import PaymentNotification

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = logging.getLogger(__name__)

WEBHOOKS = Counter("orderflow_payment_webhooks_total", "Payment webhooks by outcome", ["outcome"])

PAYMENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed"}


class StripeObjectRef(BaseModel):
    id: str
    metadata: dict[str, str] = {}


class StripeEventData(BaseModel):
    object: StripeObjectRef


class StripeEvent(BaseModel):
    """The few fields of a Stripe event we read; everything else is ignored."""

    id: str
    type: str
    data: StripeEventData


class BadSignature(InvalidRequest):
    code = "bad_signature"


@router.post("/payments/stripe", response_model=Accepted, status_code=200)
async def stripe_webhook(
    request: Request,
    *,
    settings: SettingsDep,
    workflows: WorkflowsDep,
    stripe_signature: str | None = Header(None, alias="Stripe-Signature"),
) -> Accepted:
    """Stripe's signed event. A bad or missing signature is refused and changes nothing."""
    payload = await request.body()
    if not stripe_signature:
        WEBHOOKS.labels("bad_signature").inc()
        raise BadSignature("missing Stripe-Signature header")
    try:
        # The tolerance refuses a captured event replayed later, as Stripe's own check does.
        stripe.WebhookSignature.verify_header(
            payload.decode(),
            stripe_signature,
            settings.stripe_webhook_secret,
            tolerance=stripe.Webhook.DEFAULT_TOLERANCE,
        )
        event = StripeEvent.model_validate_json(payload)
    except (stripe.SignatureVerificationError, ValueError) as error:
        WEBHOOKS.labels("bad_signature").inc()
        raise BadSignature(f"signature check failed: {error}") from error

    if event.type not in PAYMENT_EVENTS:
        WEBHOOKS.labels("ignored").inc()
        return Accepted(detail=f"{event.type} is not used")
    intent = event.data.object
    order_id = intent.metadata.get("order_id")
    if not order_id:
        WEBHOOKS.labels("ignored").inc()
        return Accepted(detail="payment has no order_id metadata")
    # Only a hint: the workflow asks the provider before believing it.
    delivered = await workflows.notify_payment(
        order_id, PaymentNotification(payment_intent_id=intent.id, event_id=event.id)
    )
    WEBHOOKS.labels("delivered" if delivered else "unknown_order").inc()
    return Accepted(accepted=delivered, detail=None if delivered else "order is not running")
