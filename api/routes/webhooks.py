"""Provider callbacks. Verify, record once, hand to the workflow, answer at once.

Providers deliver at least once: the same event may come back many times, even all at once.
Each event is recorded by its provider ID before anything else happens, and only the request
that records it first signals the order's workflow; every copy is answered ``200``.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Header, Request
from prometheus_client import Counter
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import SessionsDep, SettingsDep, WorkflowsDep
from api.schemas import Accepted
from api.webhook_recording import signature_checked
from domain.errors import InvalidRequest
from domain.ids import ORDER_ID_PATTERN
from domain.messages import PaymentNotification
from domain.safe_text import SafeText
from integrations.payments.stripe import StripePayments
from integrations.signing import SignatureRefused, check
from store.db import OUTAGE_ERRORS, SessionFactory, database_unavailable, transaction
from store.models import EventOutcome
from store.repositories import PaymentEventRepository

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = logging.getLogger(__name__)

WEBHOOKS = Counter("orderflow_payment_webhooks_total", "Payment webhooks by outcome", ["outcome"])

PAYMENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed"}
PROVIDER = StripePayments.name


class StripeObjectRef(BaseModel):
    id: SafeText = Field(max_length=255)
    metadata: dict[str, str] = {}


class StripeEventData(BaseModel):
    object: StripeObjectRef


class StripeEvent(BaseModel):
    """The few fields of a Stripe event we read; everything else is ignored."""

    id: SafeText = Field(max_length=255)
    type: SafeText = Field(max_length=255)
    data: StripeEventData


class BadSignature(InvalidRequest):
    code = "bad_signature"


@router.post("/payments/stripe", response_model=Accepted, status_code=200)
async def stripe_webhook(
    request: Request,
    *,
    settings: SettingsDep,
    sessions: SessionsDep,
    workflows: WorkflowsDep,
    stripe_signature: str | None = Header(None, alias="Stripe-Signature"),
) -> Accepted:
    """Stripe's signed event. A bad or missing signature (`bad_signature`), or a signed body
    that is not an event (`invalid_request`), is refused with 400 and changes nothing."""
    payload = await request.body()
    if not stripe_signature:
        WEBHOOKS.labels("bad_signature").inc()
        raise BadSignature("missing Stripe-Signature header")
    try:
        # The tolerance refuses a captured event replayed later, and one dated ahead.
        check(payload, stripe_signature, settings.stripe_webhook_secret)
    except SignatureRefused as error:
        WEBHOOKS.labels("bad_signature").inc()
        raise BadSignature(f"signature check failed: {error}") from error
    signature_checked(request)
    try:
        event = StripeEvent.model_validate_json(payload)
    except ValidationError as error:
        WEBHOOKS.labels("malformed").inc()
        raise InvalidRequest(f"not a Stripe event: {_first_problem(error)}") from error

    if event.type not in PAYMENT_EVENTS:
        WEBHOOKS.labels("ignored").inc()
        return Accepted(detail=f"{event.type} is not used")
    intent = event.data.object
    order_id = intent.metadata.get("order_id")
    if not order_id:
        WEBHOOKS.labels("ignored").inc()
        return Accepted(detail="payment has no order_id metadata")
    if not ORDER_ID_PATTERN.fullmatch(order_id):
        # Stripe signed it, so asking again would not help: not one of our payments.
        WEBHOOKS.labels("ignored").inc()
        return Accepted(detail="payment's order_id is not one this API gives")
    claimed = await run_in_threadpool(_claim, sessions, event, order_id)
    if claimed is False:
        WEBHOOKS.labels("duplicate").inc()
        return Accepted(detail="duplicate event")
    # Only a hint: the workflow asks the provider before believing it.
    try:
        delivered = await workflows.notify_payment(
            order_id, PaymentNotification(payment_intent_id=intent.id, event_id=event.id)
        )
    except Exception:
        # Not delivered: free the claim, so the provider's retry of this event gets through.
        WEBHOOKS.labels(EventOutcome.FAILED.value).inc()
        if claimed:
            await run_in_threadpool(_settle_quietly, sessions, event.id, EventOutcome.FAILED)
        raise
    outcome = EventOutcome.DELIVERED if delivered else EventOutcome.UNKNOWN_ORDER
    if claimed:
        await run_in_threadpool(_settle_quietly, sessions, event.id, outcome)
    WEBHOOKS.labels(outcome.value).inc()
    return Accepted(accepted=delivered, detail=None if delivered else "order is not running")


def _first_problem(error: ValidationError) -> str:
    """One line for the sender instead of pydantic's report, which quotes the input."""
    problem = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    return f"{where}: {problem['msg']}"


def _claim(sessions: SessionFactory, event: StripeEvent, order_id: str) -> bool | None:
    """True: this request delivers the event (see ``record_once``). False: it is a copy.

    None: the database can't say. Then the event is delivered unrecorded: a repeated signal
    is harmless (the workflow asks the provider), a withheld one would wait for the provider's
    retry or the workflow's own poll. Deduplication pauses while the database is away.
    """
    try:
        with transaction(sessions) as session:
            if PaymentEventRepository(session).is_duplicate(PROVIDER, event.id):
                return False
        with transaction(sessions) as session:
            return PaymentEventRepository(session).record_once(
                provider=PROVIDER,
                provider_event_id=event.id,
                event_type=event.type,
                provider_payment_id=event.data.object.id,
                order_id=order_id,
            )
    except OUTAGE_ERRORS as error:
        if not database_unavailable(error):
            raise
        log.warning("payment event %s goes unrecorded: database unavailable", event.id)
        return None


def _settle_quietly(sessions: SessionFactory, event_id: str, outcome: EventOutcome) -> None:
    """Record how the delivery went. If the database fails here the claim stays pending and
    is taken back after ``PaymentEventRepository.ABANDONED_AFTER``; the answer is unchanged.
    """
    try:
        with transaction(sessions) as session:
            PaymentEventRepository(session).settle(
                provider=PROVIDER, provider_event_id=event_id, outcome=outcome
            )
    except OUTAGE_ERRORS as error:
        if not database_unavailable(error):
            raise
        log.warning("could not record outcome %s of payment event %s", outcome, event_id)
