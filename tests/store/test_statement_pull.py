"""Pulling the provider's statement (localstripe's balance transactions) into staging:
every charge and refund once, with the payment it belongs to; a second pull stores nothing
again; a pull cut short goes on after its last stored page."""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from activities.statements import StatementActivities
from domain.statements import StatementPage, StatementPulled, StatementPullRequest
from integrations.payments.stripe import StripePayments
from store.db import SessionFactory, transaction
from store.statements import StatementRepository
from tests.helpers import pay
from tests.own_localstripe import own_localstripe_url, own_payments  # noqa: F401


def paid_and_refunded(payments: StripePayments, localstripe_url: str, name: str) -> str:
    """A payment of 36.00 at localstripe, 5.00 of it refunded: its intent's ID."""
    intent = payments.create_payment(order_id=name, customer_id="c-1", amount=3_600, currency="usd")
    assert pay(localstripe_url, intent.id) == "succeeded"
    payments.refund_payment(payment_id=intent.id, amount=500, idempotency_key=f"{name}-r")
    return intent.id


def pull(pulls: StatementActivities, page_size: int) -> StatementPulled:
    """The activity as a worker runs it (heartbeats and all)."""
    request = StatementPullRequest(page_size=page_size)
    pulled: StatementPulled = ActivityEnvironment().run(pulls.pull_statement, request)
    return pulled


def staged(sessions: SessionFactory, intent: str) -> list[tuple[str, int]]:
    with transaction(sessions) as session:
        rows = StatementRepository(session).lines("stripe")
        return sorted((row.type, row.amount) for row in rows if row.payment_id == intent)


def line_ids(sessions: SessionFactory) -> list[str]:
    with transaction(sessions) as session:
        return [row.line_id for row in StatementRepository(session).lines("stripe")]


def test_every_line_once_and_a_second_pull_stores_nothing(
    sessions: SessionFactory, payments: StripePayments, localstripe_url: str
) -> None:
    intent = paid_and_refunded(payments, localstripe_url, "stmt-1")
    pulls = StatementActivities(sessions, payments)

    first = pull(pulls, 7)
    again = pull(pulls, 7)

    assert staged(sessions, intent) == [("charge", 3_600), ("refund", -500)]
    assert first.lines >= 2 and again.lines == 0
    ids = line_ids(sessions)
    assert len(ids) == len(set(ids))

    later = paid_and_refunded(payments, localstripe_url, "stmt-2")
    newer = pull(pulls, 7)
    assert newer.lines == 2 and staged(sessions, later) == [("charge", 3_600), ("refund", -500)]


class CutShort:
    """The provider, failing once on the second page asked: a worker gone mid-pull."""

    def __init__(self, provider: StripePayments) -> None:
        self.provider, self.asked, self.failed = provider, 0, False
        self.name = provider.name

    def statement_page(self, *, starting_after: str | None, limit: int) -> StatementPage:
        self.asked += 1
        if self.asked == 2 and not self.failed:
            self.failed = True
            raise ConnectionError("the worker died here")
        return self.provider.statement_page(starting_after=starting_after, limit=limit)


def test_a_pull_cut_short_goes_on_after_its_last_page(
    sessions: SessionFactory, payments: StripePayments, localstripe_url: str
) -> None:
    for n in range(3):
        paid_and_refunded(payments, localstripe_url, f"stmt-cut-{n}")
    cut = CutShort(payments)
    pulls = StatementActivities(sessions, cut)  # type: ignore[arg-type]

    with pytest.raises(ConnectionError):
        pull(pulls, 2)
    stored_before_the_crash = len(line_ids(sessions))
    done = pull(pulls, 2)  # the retry

    ids = line_ids(sessions)
    assert stored_before_the_crash == 2  # the first page, committed with the cursor
    assert len(ids) == len(set(ids)) and done.lines == len(ids)
    every = payments.client.v1.balance_transactions.list({"limit": 100}).auto_paging_iter()
    assert {txn.id for txn in every} == set(ids)
