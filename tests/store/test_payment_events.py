"""Provider events are claimed once: by one of many concurrent copies, and again only after a
delivery that failed or was abandoned.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import select

from store.db import SessionFactory, transaction
from store.models import EventOutcome, PaymentEvent, utcnow
from store.repositories import PaymentEventRepository

COPIES = 24
LATER = PaymentEventRepository.ABANDONED_AFTER + timedelta(seconds=1)


def claim(sessions: SessionFactory, event_id: str = "evt_1", now: datetime | None = None) -> bool:
    with transaction(sessions) as session:
        return PaymentEventRepository(session).record_once(
            provider="stripe",
            provider_event_id=event_id,
            event_type="payment_intent.succeeded",
            provider_payment_id="pi_1",
            order_id="web-A-1",
            now=now,
        )


def settle(sessions: SessionFactory, outcome: EventOutcome, event_id: str = "evt_1") -> None:
    with transaction(sessions) as session:
        PaymentEventRepository(session).settle(
            provider="stripe", provider_event_id=event_id, outcome=outcome
        )


def is_duplicate(sessions: SessionFactory, now: datetime | None = None) -> bool:
    with transaction(sessions) as session:
        return PaymentEventRepository(session).is_duplicate("stripe", "evt_1", now=now)


def outcomes(sessions: SessionFactory) -> list[str]:
    with transaction(sessions) as session:
        return list(session.scalars(select(PaymentEvent.outcome).order_by(PaymentEvent.id)))


def claim_concurrently(sessions: SessionFactory) -> list[bool]:
    start = threading.Barrier(COPIES)

    def one(_: int) -> bool:
        start.wait()
        return claim(sessions)

    with ThreadPoolExecutor(max_workers=COPIES) as pool:
        return list(pool.map(one, range(COPIES)))


def test_of_many_concurrent_copies_exactly_one_claims_the_event(sessions: SessionFactory) -> None:
    assert sorted(claim_concurrently(sessions)) == [False] * (COPIES - 1) + [True]
    assert outcomes(sessions) == [EventOutcome.PENDING]


def test_a_failed_delivery_is_claimed_again_by_exactly_one_retry(
    sessions: SessionFactory,
) -> None:
    assert claim(sessions)
    settle(sessions, EventOutcome.FAILED)
    assert not is_duplicate(sessions)

    assert sorted(claim_concurrently(sessions)) == [False] * (COPIES - 1) + [True]
    assert outcomes(sessions) == [EventOutcome.PENDING]
    settle(sessions, EventOutcome.DELIVERED)
    assert not claim(sessions)
    assert outcomes(sessions) == [EventOutcome.DELIVERED]


def test_a_delivered_event_is_a_duplicate_for_good(sessions: SessionFactory) -> None:
    assert not is_duplicate(sessions)
    assert claim(sessions)
    settle(sessions, EventOutcome.DELIVERED)
    much_later = utcnow() + timedelta(days=30)
    assert is_duplicate(sessions, now=much_later)
    assert not claim(sessions, now=much_later)
    # A failure reported late (another attempt's) does not undo the delivery.
    settle(sessions, EventOutcome.FAILED)
    assert outcomes(sessions) == [EventOutcome.DELIVERED]


def test_an_event_for_no_running_order_is_not_delivered_again(sessions: SessionFactory) -> None:
    assert claim(sessions)
    settle(sessions, EventOutcome.UNKNOWN_ORDER)
    assert is_duplicate(sessions)
    assert not claim(sessions, now=utcnow() + LATER)


def test_a_claim_nobody_settled_is_taken_back_once_abandoned(sessions: SessionFactory) -> None:
    """The request that claimed it died before settling: after a while a retry may deliver."""
    claimed_at = utcnow()
    assert claim(sessions, now=claimed_at)
    assert is_duplicate(sessions, now=claimed_at + timedelta(seconds=5))
    assert not claim(sessions, now=claimed_at + timedelta(seconds=5))

    assert not is_duplicate(sessions, now=claimed_at + LATER)
    assert claim(sessions, now=claimed_at + LATER)
    assert not claim(sessions, now=claimed_at + LATER)
    assert outcomes(sessions) == [EventOutcome.PENDING]


def test_events_are_told_apart_by_provider_and_event_id(sessions: SessionFactory) -> None:
    assert claim(sessions, "evt_1")
    assert claim(sessions, "evt_2")
    with transaction(sessions) as session:
        session.add(
            PaymentEvent(
                provider="other",
                provider_event_id="evt_1",
                event_type="payment_intent.succeeded",
                provider_payment_id="pay_9",
                order_id=None,
                outcome=EventOutcome.DELIVERED,
            )
        )
    assert outcomes(sessions) == [EventOutcome.PENDING, EventOutcome.PENDING, "delivered"]
